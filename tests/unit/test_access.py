"""The access code gate: right and wrong codes, throttling per client, remembered passes, bounded memory."""

import pytest

from core.shared_mode.access import AccessAttempt, AccessGate, ThrottlePolicy, access_gate, reset_access_gate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def make_gate(clock, **policy) -> AccessGate:
    return AccessGate("orchid-42", policy=ThrottlePolicy(**policy), pass_ttl_s=3600, clock=clock)


def fail(gate: AccessGate, times: int, client: str = "203.0.113.7") -> list[AccessAttempt]:
    return [gate.attempt(client=client, owner="visitor", typed="wrong") for _ in range(times)]


def test_right_code_lets_the_owner_in_and_is_remembered(clock):
    gate = make_gate(clock)
    assert not gate.has_passed("visitor")
    assert gate.attempt(client="203.0.113.7", owner="visitor", typed="orchid-42") == AccessAttempt("allowed")
    assert gate.has_passed("visitor")
    assert not gate.has_passed("someone-else")


def test_surrounding_spaces_are_ignored_but_case_is_not(clock):
    gate = make_gate(clock)
    assert gate.attempt(client="a", owner="o", typed="  orchid-42\n").outcome == "allowed"
    assert gate.attempt(client="a", owner="p", typed="ORCHID-42").outcome == "wrong"


@pytest.mark.parametrize("typed", ["", "orchid-4", "orchid-421", "x" * 10_000])
def test_wrong_codes_of_any_length_are_refused(clock, typed):
    assert make_gate(clock).attempt(client="a", owner="o", typed=typed) == AccessAttempt("wrong")


def test_after_five_failures_even_the_right_code_must_wait(clock):
    gate = make_gate(clock)
    results = fail(gate, 5)
    assert [r.outcome for r in results] == ["wrong"] * 5
    assert [r.retry_after_s for r in results] == [0, 0, 0, 0, 30]
    throttled = gate.attempt(client="203.0.113.7", owner="visitor", typed="orchid-42")
    assert throttled == AccessAttempt("throttled", 30)
    assert not gate.has_passed("visitor")
    clock.advance(29.5)
    assert gate.attempt(client="203.0.113.7", owner="visitor", typed="orchid-42") == AccessAttempt("throttled", 1)
    clock.advance(0.5)
    assert gate.attempt(client="203.0.113.7", owner="visitor", typed="orchid-42").outcome == "allowed"


def test_delays_double_up_to_the_cap(clock):
    gate = make_gate(clock)
    fail(gate, 4)
    delays = []
    for _ in range(8):
        result = fail(gate, 1)[0]
        delays.append(result.retry_after_s)
        clock.advance(result.retry_after_s)
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]


def test_throttled_attempts_do_not_extend_the_wait(clock):
    gate = make_gate(clock)
    fail(gate, 5)
    clock.advance(10)
    assert fail(gate, 3)[-1] == AccessAttempt("throttled", 20)
    assert gate.retry_after("203.0.113.7") == 20


def test_throttling_is_per_client(clock):
    gate = make_gate(clock)
    fail(gate, 5, client="198.51.100.1")
    assert gate.retry_after("198.51.100.1") == 30
    assert gate.retry_after("198.51.100.2") == 0
    assert gate.attempt(client="198.51.100.2", owner="other", typed="orchid-42").outcome == "allowed"


def test_a_success_resets_the_failure_count(clock):
    gate = make_gate(clock)
    fail(gate, 4)
    gate.attempt(client="203.0.113.7", owner="visitor", typed="orchid-42")
    assert [r.outcome for r in fail(gate, 4)] == ["wrong"] * 4
    assert gate.retry_after("203.0.113.7") == 0


def test_failures_are_forgotten_after_a_quiet_window(clock):
    gate = make_gate(clock)
    fail(gate, 4)
    clock.advance(601)
    assert [r.retry_after_s for r in fail(gate, 4)] == [0, 0, 0, 0]


def test_waiting_out_the_delays_never_earns_fresh_free_attempts(clock):
    gate = make_gate(clock)
    fail(gate, 5)
    for _ in range(6):  # the delay grows past the 10-minute window
        clock.advance(gate.retry_after("203.0.113.7"))
        fail(gate, 1)
    assert gate.retry_after("203.0.113.7") == 900
    clock.advance(900)
    assert fail(gate, 1)[0].retry_after_s == 900


def test_passes_expire(clock):
    gate = make_gate(clock)
    gate.attempt(client="a", owner="visitor", typed="orchid-42")
    clock.advance(3599)
    assert gate.has_passed("visitor")
    clock.advance(1)
    assert not gate.has_passed("visitor")


def test_memory_is_bounded(clock):
    gate = AccessGate("orchid-42", policy=ThrottlePolicy(max_clients=3), max_passes=2, clock=clock)
    for number in range(10):
        gate.attempt(client=f"client-{number}", owner=f"owner-{number}", typed="wrong")
        gate.attempt(client="ok", owner=f"owner-{number}", typed="orchid-42")
    assert len(gate._failures) <= 3
    assert len(gate._passes) == 2
    assert gate.has_passed("owner-9") and not gate.has_passed("owner-0")


def test_an_empty_code_is_refused():
    with pytest.raises(ValueError, match="non-space"):
        AccessGate("   ")


def test_one_gate_per_configured_code(monkeypatch):
    reset_access_gate()
    monkeypatch.delenv("LAYERLAB_ACCESS_CODE", raising=False)
    assert access_gate() is None
    monkeypatch.setenv("LAYERLAB_ACCESS_CODE", "  ")
    assert access_gate() is None
    monkeypatch.setenv("LAYERLAB_ACCESS_CODE", "first")
    monkeypatch.setenv("LAYERLAB_RETENTION_HOURS", "0")
    first = access_gate()
    assert first is access_gate()
    assert first.pass_ttl_s == 24 * 3600
    monkeypatch.setenv("LAYERLAB_ACCESS_CODE", "second")
    assert access_gate() is not first
    reset_access_gate()
    monkeypatch.setenv("LAYERLAB_ACCESS_CODE", "first")
    assert access_gate() is not first
    reset_access_gate()
