"""Issue 17: a hyperparameter search. Optuna proposes trials, each is a normal run through the job queue,
poor ones are pruned from their validation loss, and a restart resumes the study from disk."""

from __future__ import annotations

import math
import time

import pytest

from core.experiments.search import (
    SearchBudget,
    SearchError,
    SearchRunner,
    SearchSpace,
    SearchSpec,
    SearchStore,
    trial_spec,
)
from core.run_store import RunStore, to_parquet
from core.spec import DataSpec, DenseLayer, DropoutLayer, ModelSpec, RunSpec, TrainingSpec
from tests.conftest import make_binary_frame


def base_spec(epochs: int = 4) -> RunSpec:
    return RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=16),)),
        training=TrainingSpec(epochs=epochs, batch_size=32, early_stopping=False),
    )


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)  # what it reads is cheap, but the trials' workers need the CPU
    raise AssertionError(f"not within {timeout} s")


def test_a_trial_is_the_base_spec_with_the_trials_settings():
    space = SearchSpace(vary_batch_size=True, vary_optimizer=True)
    spec = trial_spec(base_spec(), space, {"layers": 3, "units": 64, "dropout": 0.2, "learning_rate": 0.01,
                                          "batch_size": 128, "optimizer": "rmsprop"})  # fmt: skip
    assert [type(layer) for layer in spec.model.layers] == [DenseLayer, DropoutLayer] * 3
    assert [layer.units for layer in spec.model.layers[::2]] == [64, 32, 16]
    assert (spec.training.learning_rate, spec.training.batch_size, spec.training.optimizer) == (0.01, 128, "rmsprop")
    assert spec.data == base_spec().data and spec.training.epochs == 4


def test_ranges_outside_the_specs_bounds_and_no_budget_are_refused():
    with pytest.raises(ValueError, match="units"):
        SearchSpace(units=(16, 100_000))
    with pytest.raises(ValueError, match="lowest first"):
        SearchSpace(learning_rate=(0.1, 0.001))
    with pytest.raises(ValueError, match="needs a budget"):
        SearchBudget(trials=None, minutes=None)
    with pytest.raises(ValueError, match="not an optimizer"):
        SearchSpace(optimizers=("adam", "lbfgs"))


def test_a_search_tells_optuna_each_trials_validation_loss_and_resumes_after_a_restart(tmp_path):
    """The runner's bookkeeping, with runs that "train" instantly: a trial's validation loss is known from its
    settings (a learning rate near 0.003 and one layer are best). tests/app/test_search_page.py trains for real."""
    runs = RunStore(tmp_path / "runs")
    searches = SearchStore(tmp_path / "searches")
    table = tmp_path / "table.parquet"
    frame = make_binary_frame(40)
    table.write_bytes(to_parquet(frame)[0])
    spec = SearchSpec(
        base=base_spec(epochs=3), space=SearchSpace(layers=(1, 3), units=(8, 32)), budget=SearchBudget(trials=8)
    )
    search_id = searches.create(spec, table, source_name="b.csv")
    hold = {"next": False}  # the next run stays queued: the server goes away while it waits

    def submit(run_spec):
        run_id = runs.create_run(run_spec, frame, source_name="b.csv", search=search_id)
        if hold["next"]:
            hold["next"] = False
            runs.set_status(run_id, "queued", "waiting")
            return run_id
        dense = sum(isinstance(layer, DenseLayer) for layer in run_spec.model.layers)
        loss = abs(math.log10(run_spec.training.learning_rate) + 2.5) + 0.1 * dense
        runs.files(run_id).write_history([{"epoch": e, "loss": loss + 1 / e, "val_loss": loss + 1 / e}
                                          for e in (1, 2, 3)])  # fmt: skip
        runs.set_status(run_id, "finished", "done")
        return run_id

    def trial_runs():
        return list((searches.state(search_id).get("trials") or {}).values())

    first = SearchRunner(searches, search_id, runs, submit).start()
    _wait(lambda: len(trial_runs()) >= 3, 60)
    hold["next"] = True
    _wait(lambda: not hold["next"], 60)
    first.close()
    waiting = trial_runs()[-1]
    assert runs.status(waiting).state == "queued" and searches.state(search_id)["state"] == "running"

    second = SearchRunner(searches, search_id, runs, submit).start()  # a new server resumes the study
    _wait(lambda: searches.state(search_id).get("state") == "finished", 60)
    second.close()

    view = searches.view(search_id, runs)
    done = [row for row in view.trials if row.state in {"complete", "pruned"}]
    assert len(done) == 8  # the budget: the interrupted trial does not count
    interrupted = [row for row in view.trials if row.state == "failed"]
    assert [row.run_id for row in interrupted] == [waiting] and runs.stop_requested(waiting)
    assert view.best.val_loss == min(r.val_loss for r in view.trials if r.state == "complete")
    assert runs.meta(view.best.run_id)["search"] == search_id
    varied = {"layers", "units", "dropout", "learning_rate", "numeric_embedding"}
    # The frequencies' spread is asked only of trials with periodic features (a conditional parameter).
    assert set(view.best.params) == varied | (
        {"periodic_scale"} if view.best.params["numeric_embedding"] == "periodic" else set()
    )
    assert view.leaderboard()[0] == view.best
    points = view.best_over_time()
    assert [best for _, best in points] == sorted((best for _, best in points), reverse=True)
    assert varied <= set(searches.importances(search_id)) <= varied | {"periodic_scale"}


def test_another_sessions_search_is_not_found(tmp_path):
    mine = SearchStore(tmp_path / "searches", owner="alice")
    theirs = SearchStore(tmp_path / "searches", owner="bob")
    search_id = theirs.create(SearchSpec(base=base_spec()), tmp_path / "t.parquet", source_name="t.csv")
    assert mine.list_ids() == [] and theirs.list_ids() == [search_id]
    with pytest.raises(SearchError, match="not found"):
        mine.state(search_id)
    with pytest.raises(SearchError, match="not found"):
        mine.folder("../../etc")


def test_a_slow_starter_that_still_improves_is_not_pruned_but_a_stalled_poor_trial_is():
    import optuna

    from core.experiments.search import make_pruner

    study = optuna.create_study(direction="minimize", pruner=make_pruner())
    for _ in range(4):  # four quick trials: validation loss 0.5 -> 0.3 over ten epochs
        trial = study.ask()
        for epoch in range(1, 11):
            trial.report(0.5 - 0.02 * epoch, step=epoch)
        study.tell(trial, 0.3)

    slow = study.ask()  # a low learning rate: far above the median early, but better every epoch
    stalled = study.ask()  # just as poor, and no longer improving
    slow_pruned_at = stalled_pruned_at = None
    for epoch in range(1, 11):
        slow.report(1.0 - 0.08 * epoch, step=epoch)
        stalled.report(0.9 if epoch < 3 else 0.95, step=epoch)
        if slow_pruned_at is None and slow.should_prune():
            slow_pruned_at = epoch
        if stalled_pruned_at is None and stalled.should_prune():
            stalled_pruned_at = epoch
    assert slow_pruned_at is None
    assert stalled_pruned_at is not None and stalled_pruned_at <= 6
