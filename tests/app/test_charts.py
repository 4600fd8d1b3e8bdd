"""Chart details a user reads: whole epochs on the x axis, legends that do not cover the axis."""

from __future__ import annotations

import numpy as np

from ui.charts import learning_rate_figure, training_curves


def _history(epochs: int) -> list[dict]:
    return [
        {"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e, "metric": 0.5, "val_metric": 0.5} for e in range(1, epochs + 1)
    ]


def _ticks(axis, last: int) -> np.ndarray:
    return np.arange(axis.tick0, last + 1, axis.dtick)


def test_epoch_ticks_are_whole_epochs_for_short_and_long_runs():
    for epochs in (1, 3, 8, 9, 40, 250):
        curves = training_curves(_history(epochs), "accuracy")
        for axis in (curves.layout.xaxis, curves.layout.xaxis2):
            ticks = _ticks(axis, epochs)
            assert np.all(ticks == np.round(ticks)) and 2 <= len(ticks) <= 10
        rate = learning_rate_figure(planned=[1e-3] * epochs, history=_history(epochs))
        assert np.all(_ticks(rate.layout.xaxis, epochs) % 1 == 0)


def test_legends_sit_above_the_plots():
    assert training_curves(_history(3), "accuracy").layout.legend.y > 1
    assert learning_rate_figure(planned=[1e-3] * 3).layout.legend.y > 1
