"""The training ETA is shown only once it can be trusted: never from the first (tracing) call of `fit`."""

from core.training.run_job import estimate_eta


def test_no_estimate_from_under_five_seconds_of_steps_within_the_first_epoch():
    assert estimate_eta(0.0, 0, 1000, epoch_ended=False) is None
    assert estimate_eta(4.9, 100, 1000, epoch_ended=False) is None


def test_an_estimate_after_five_seconds_or_a_whole_epoch():
    assert estimate_eta(5.0, 50, 100, epoch_ended=False) == 10.0
    assert estimate_eta(0.5, 10, 40, epoch_ended=True) == 2.0


def test_no_estimate_without_timed_steps_even_after_an_epoch():
    # An epoch that was one fused call: its only call traced, so nothing has been timed yet.
    assert estimate_eta(0.0, 0, 40, epoch_ended=True) is None
