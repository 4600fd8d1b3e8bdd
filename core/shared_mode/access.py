"""The optional access code: every visitor types it once before the app opens (`LAYERLAB_ACCESS_CODE`).

The code is compared in constant time on SHA-256 digests, so neither its characters nor its length leak
through timing. Failed attempts are counted per client (its IP address): after `max_failures` failures each
further attempt waits an exponentially growing delay, capped. A browser identity (owner id) that typed the
right code is remembered for a while, so reloading the page does not ask again.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from core.config import load_settings

ACCESS_CODE_VARIABLE = "LAYERLAB_ACCESS_CODE"
DEFAULT_PASS_HOURS = 24


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How hard failed attempts are slowed down.

    Attributes:
        max_failures: failures a client may make before attempts are delayed.
        window_s: a client's failures are forgotten after this long without failing (counted from the end
            of its last delay, so waiting out the delays never earns a fresh set of free attempts).
        first_delay_s: the wait after the `max_failures`-th failure; it doubles with each further failure.
        max_delay_s: the longest wait.
        max_clients: clients tracked at once; beyond this, the one whose last failure is oldest is forgotten.
    """

    max_failures: int = 5
    window_s: float = 600.0
    first_delay_s: float = 30.0
    max_delay_s: float = 900.0
    max_clients: int = 10_000


@dataclass(frozen=True, slots=True)
class AccessAttempt:
    """What became of one typed code.

    Attributes:
        outcome: "allowed" (right code), "wrong" (compared and refused) or "throttled" (not compared at all:
            the client must wait first).
        retry_after_s: whole seconds before this client's next attempt is compared; 0 when it may try now.
    """

    outcome: Literal["allowed", "wrong", "throttled"]
    retry_after_s: int = 0


@dataclass(slots=True)
class _Failures:
    count: int
    last_failure: float
    blocked_until: float


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.strip().encode("utf-8")).digest()


class AccessGate:
    """Checks typed codes against the configured one, throttling clients that keep guessing.

    Thread-safe: every Streamlit session runs its script on its own thread and they share one gate.

    Args:
        code: the code visitors must type; surrounding spaces are ignored. Only its digest is kept.
        policy: how failed attempts are throttled.
        pass_ttl_s: how long an owner id that typed the right code is let in without typing it again.
        max_passes: owner ids remembered at once; beyond this the oldest pass is forgotten.
        clock: seconds on a monotonic clock (tests pass a fake one).

    Example:

    ```python
    gate = AccessGate("orchid-42")
    gate.attempt(client="203.0.113.7", owner="abc", typed="orchid-42")  # AccessAttempt(outcome="allowed")
    gate.has_passed("abc")  # True
    ```
    """

    def __init__(
        self,
        code: str,
        *,
        policy: ThrottlePolicy | None = None,
        pass_ttl_s: float = DEFAULT_PASS_HOURS * 3600.0,
        max_passes: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not code.strip():
            raise ValueError("An access code must contain at least one non-space character. Received: an empty code.")
        if pass_ttl_s <= 0:
            raise ValueError(f"`pass_ttl_s` must be positive. Received: pass_ttl_s={pass_ttl_s}")
        self._expected = _digest(code)
        self.policy = policy or ThrottlePolicy()
        self.pass_ttl_s = pass_ttl_s
        self.max_passes = max_passes
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._passes: OrderedDict[str, float] = OrderedDict()  # owner -> expiry, oldest first

    def has_passed(self, owner: str) -> bool:
        """Whether this owner id typed the right code within the last `pass_ttl_s` seconds."""
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            return owner in self._passes

    def retry_after(self, client: str) -> int:
        """Whole seconds before this client's next attempt is compared (0: it may try now)."""
        with self._lock:
            return self._wait(client, self._clock())

    def attempt(self, client: str, owner: str, typed: str) -> AccessAttempt:
        """Compare a typed code for `owner`, who connects from `client` (an IP address or similar key)."""
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            wait = self._wait(client, now)
            if wait:
                return AccessAttempt("throttled", wait)
            if hmac.compare_digest(_digest(typed), self._expected):
                self._failures.pop(client, None)
                self._passes.pop(owner, None)
                self._passes[owner] = now + self.pass_ttl_s
                while len(self._passes) > self.max_passes:
                    self._passes.popitem(last=False)
                return AccessAttempt("allowed")
            self._record_failure(client, now)
            return AccessAttempt("wrong", self._wait(client, now))

    def _wait(self, client: str, now: float) -> int:
        record = self._failures.get(client)
        if record is None or record.blocked_until <= now:
            return 0
        return math.ceil(record.blocked_until - now)

    def _record_failure(self, client: str, now: float) -> None:
        policy = self.policy
        record = self._failures.pop(client, None)
        if record is None or self._expired(record, now):
            record = _Failures(count=0, last_failure=now, blocked_until=now)
        record.count += 1
        record.last_failure = now
        beyond = record.count - policy.max_failures
        if beyond >= 0:
            # 2 ** beyond grows without bound; past 64 doublings the cap has long been reached.
            record.blocked_until = now + min(policy.max_delay_s, policy.first_delay_s * 2 ** min(beyond, 64))
        self._failures[client] = record  # most recent failure last, so eviction drops the stalest client
        while len(self._failures) > policy.max_clients:
            self._failures.popitem(last=False)

    def _expired(self, record: _Failures, now: float) -> bool:
        return max(record.last_failure, record.blocked_until) + self.policy.window_s <= now

    def _forget_expired(self, now: float) -> None:
        # Failures are ordered by last failure, not by expiry (a long delay outlasts a later client's record),
        # so a stale record may wait behind a fresh one; `_record_failure` ignores it and `max_clients` bounds it.
        while self._failures:
            client, record = next(iter(self._failures.items()))
            if not self._expired(record, now):
                break
            del self._failures[client]
        while self._passes:
            owner, expiry = next(iter(self._passes.items()))
            if expiry > now:
                break
            del self._passes[owner]


def configured_access_code() -> str | None:
    """The code from `LAYERLAB_ACCESS_CODE`, or None when it is unset or blank (no gate)."""
    code = os.environ.get(ACCESS_CODE_VARIABLE, "").strip()
    return code or None


@functools.lru_cache(maxsize=4)
def _gate_for(code: str, pass_ttl_s: float) -> AccessGate:
    return AccessGate(code, pass_ttl_s=pass_ttl_s)


def access_gate() -> AccessGate | None:
    """The server process's gate for the configured code, or None when no code is configured.

    One gate per code value, so changing the variable (tests do) gives a fresh gate. A pass lasts as long as
    the session's data (`LAYERLAB_RETENTION_HOURS`), or 24 hours when that is 0 (kept forever).
    """
    code = configured_access_code()
    if code is None:
        return None
    retention_hours = load_settings().retention_hours
    return _gate_for(code, float((retention_hours or DEFAULT_PASS_HOURS) * 3600))


def reset_access_gate() -> None:
    """Forget every gate: passes and failure counts start afresh (for tests)."""
    _gate_for.cache_clear()
