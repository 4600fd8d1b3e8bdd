"""The simple models are fitted while the network trains, so a run does not wait for them after its last epoch."""

import pytest

import core.evaluation.baselines
import core.kinds.table
from tests.conftest import make_binary_frame, train_small_run

pytestmark = pytest.mark.slow


def test_baselines_start_before_the_first_epoch_ends_and_land_in_the_metrics(tmp_path, tmp_home, monkeypatch):
    seen = []
    original = core.evaluation.baselines.compare_baselines

    def recording(data, seed):
        seen.append(any(tmp_path.glob("runs/*/history.json")))
        return original(data, seed)

    monkeypatch.setattr(core.kinds.table, "compare_baselines", recording)  # what the table kind's baselines() calls
    store, run_id = train_small_run(tmp_path / "runs", make_binary_frame(200))
    assert seen == [False]  # called once, before any epoch had ended
    metrics = store.metrics(run_id)
    assert [baseline["name"] for baseline in metrics["baselines"]][0] == "Majority class (dummy)"
    assert metrics["baseline_summary"]
