"""The training coach reads curves like a teacher would and proposes one concrete change for each problem."""

from __future__ import annotations

import pandas as pd
import pytest

from core.spec import DataSpec, DenseLayer, DropoutLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.coach import apply_coach_fix, coach

SPEC = RunSpec(
    data=DataSpec(target="y"),
    model=ModelSpec(layers=(DenseLayer(units=32), DenseLayer(units=16))),
    training=TrainingSpec(learning_rate=0.01, early_stopping=False),
)


def rows(losses, val_losses):
    return [
        {"epoch": epoch, "loss": loss, "val_loss": val}
        for epoch, (loss, val) in enumerate(zip(losses, val_losses, strict=True), start=1)
    ]


HEALTHY = rows([1.0, 0.6, 0.45, 0.4, 0.38], [0.9, 0.6, 0.5, 0.47, 0.46])
OVERFITTING = rows([1.0, 0.6, 0.4, 0.3, 0.2, 0.12], [0.9, 0.6, 0.5, 0.55, 0.6, 0.7])


def test_a_healthy_run_gets_no_finding():
    assert coach(HEALTHY, SPEC) == []
    assert coach([], SPEC) == []


def test_overfitting_is_explained_and_the_fix_adds_dropout_after_each_dense_layer():
    [finding] = coach(OVERFITTING, SPEC)
    assert finding.kind == "overfitting"
    assert "since epoch 3" in finding.message and "for 3 epochs" in finding.message
    assert finding.fix == "add_dropout"
    fixed = apply_coach_fix(SPEC, finding)
    assert [layer.kind for layer in fixed.model.layers] == ["dense", "dropout", "dense", "dropout"]
    assert fixed.training == SPEC.training and fixed.data == SPEC.data
    assert [layer.kind for layer in SPEC.model.layers] == ["dense", "dense"]  # the original is untouched


def test_overfitting_with_dropout_already_adds_l2_then_early_stopping():
    with_dropout = SPEC.model_copy(update={"model": ModelSpec(layers=(DenseLayer(units=32), DropoutLayer(rate=0.5)))})
    [finding] = coach(OVERFITTING, with_dropout)
    assert finding.fix == "add_l2"
    assert apply_coach_fix(with_dropout, finding).model.layers[0].l2 == pytest.approx(1e-4)
    penalised = with_dropout.model_copy(
        update={"model": ModelSpec(layers=(DenseLayer(units=32, l2=0.01), DropoutLayer(rate=0.5)))}
    )
    [finding] = coach(OVERFITTING, penalised)
    assert finding.fix == "enable_early_stopping"
    assert apply_coach_fix(penalised, finding).training.early_stopping is True


def test_two_rising_epochs_are_not_yet_overfitting():
    assert coach(OVERFITTING[:5], SPEC) == []


@pytest.mark.parametrize(
    "history",
    [
        rows([1.0, 0.8, None], [0.9, 0.8, None]),  # NaN loss (written as null)
        rows([1.0, 0.8, 500.0], [0.9, 0.8, 1e9]),  # exploded without NaN
    ],
)
def test_divergence_lowers_the_learning_rate_tenfold(history):
    [finding] = coach(history, SPEC)
    assert finding.kind == "divergence"
    assert "0.01" in finding.message and "too high" in finding.message
    assert finding.fix_label == "Lower the learning rate to 0.001"
    assert apply_coach_fix(SPEC, finding).training.learning_rate == pytest.approx(0.001)


def test_the_status_flag_alone_reports_divergence():
    [finding] = coach(HEALTHY[:1], SPEC, diverged=True)
    assert finding.kind == "divergence"


def test_a_loss_that_rises_and_falls_means_the_learning_rate_is_too_high():
    [finding] = coach(rows([1.0, 1.2, 0.9, 1.3, 1.0], [1.0, 1.1, 1.0, 1.2, 1.0]), SPEC)
    assert finding.kind == "learning_rate_too_high"
    assert "rose in 2 of 4 epochs" in finding.message
    assert apply_coach_fix(SPEC, finding).training.learning_rate == pytest.approx(0.00333)


def test_a_loss_that_barely_moves_means_the_learning_rate_is_too_low():
    [finding] = coach(rows([1.0, 0.995, 0.99, 0.985, 0.98], [1.0, 0.995, 0.99, 0.985, 0.98]), SPEC)
    assert finding.kind == "learning_rate_too_low"
    assert "2.0% in 5 epochs" in finding.message
    assert apply_coach_fix(SPEC, finding).training.learning_rate == pytest.approx(0.1)


def test_a_plateau_proposes_reduce_on_plateau_then_early_stopping():
    flat = rows([1.0, 0.5, 0.4, 0.39, 0.39, 0.38, 0.385, 0.38], [0.9, 0.5, 0.45, 0.452, 0.451, 0.453, 0.452, 0.451])
    [finding] = coach(flat, SPEC)
    assert finding.kind == "plateau" and "not improved for 5 epochs" in finding.message
    scheduled = apply_coach_fix(SPEC, finding)
    assert scheduled.training.schedule.kind == "reduce_on_plateau"
    [finding] = coach(flat, scheduled)
    assert finding.fix == "enable_early_stopping"


SLOW = rows([1.0, 0.995, 0.99, 0.985, 0.98], [1.0, 0.995, 0.99, 0.985, 0.98])


def test_the_coach_does_not_repeat_the_fix_that_made_this_run():
    from core.training.coach import CoachContext

    [first] = coach(SLOW, SPEC)
    raised = apply_coach_fix(SPEC, first)
    # The new run learns just as slowly: advising a higher rate again would loop for ever.
    [finding] = coach(SLOW, raised, context=CoachContext(applied_fix="raise_learning_rate", previous_spec=SPEC))
    assert finding.kind == "fix_did_not_help" and finding.fix is None
    assert "raise learning rate" in finding.message and "does not offer it again" in finding.message
    with pytest.raises(ValueError):
        apply_coach_fix(raised, finding)


def test_a_fix_that_leads_back_to_the_parent_spec_is_not_offered():
    from core.training.coach import CoachContext

    diverged = rows([1.0, 0.8, None], [0.9, 0.8, None])
    [lowered] = coach(diverged, SPEC)
    fixed = apply_coach_fix(SPEC, lowered)
    [finding] = coach(SLOW, fixed, context=CoachContext(applied_fix="lower_learning_rate", previous_spec=SPEC))
    assert finding.kind == "fix_did_not_help"  # raising ×10 would give back the spec that diverged


def test_a_fix_that_changes_nothing_is_dropped():
    at_limit = SPEC.model_copy(update={"training": SPEC.training.model_copy(update={"learning_rate": 10.0})})
    assert coach(SLOW, at_limit) == []


def test_no_better_than_the_dummy_means_little_signal_not_the_learning_rate():
    from core.training.coach import CoachContext, dummy_reference

    flat = [{**row, "val_metric": 0.61} for row in SLOW]
    metrics = {"baselines": [{"name": "Majority class (dummy)", "test": {"accuracy": 0.62}}]}
    score, higher = dummy_reference(metrics)
    [finding] = coach(flat, SPEC, context=CoachContext(dummy_score=score, higher_is_better=higher))
    assert finding.kind == "little_signal" and finding.fix is None
    assert "little signal" in finding.message and "learning rate" in finding.message
    learning = [{**row, "val_metric": 0.9} for row in SLOW]
    [finding] = coach(learning, SPEC, context=CoachContext(dummy_score=score, higher_is_better=higher))
    assert finding.kind == "learning_rate_too_low"
    regression = {"baselines": [{"name": "Mean (dummy)", "test": {"mae": 10.0, "r2": 0.0}}]}
    assert dummy_reference(regression) == (10.0, False)
    worse = [{**row, "val_metric": 10.5} for row in SLOW]
    [finding] = coach(worse, SPEC, context=CoachContext(dummy_score=10.0, higher_is_better=False))
    assert finding.kind == "little_signal" and "mean absolute error" in finding.message


def test_a_coach_fix_is_recorded_in_the_new_runs_meta(tmp_path):
    from core.run_store import RunStore

    store = RunStore(tmp_path)
    run_id = store.create_run(SPEC, pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}), source_name="t.csv")
    store.update_meta(run_id, coach_fix={"fix": "raise_learning_rate", "from_run": "parent"})
    assert store.meta(run_id)["coach_fix"]["fix"] == "raise_learning_rate"
    assert store.meta(run_id)["source_name"] == "t.csv"
    with pytest.raises(ValueError):
        store.update_meta(run_id, owner="someone else")
