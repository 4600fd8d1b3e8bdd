"""`layerlab evaluate RUN_DIR [DATA]`: every metric, the baselines and permutation importances as JSON."""

import json

import numpy as np
import pytest

from core.cli import main
from core.deployment.threshold import save_threshold
from core.evaluation.metrics import cell_rows, held_out_rows, normalised
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_evaluate")
    store = RunStore(folder / "runs")
    frame = make_binary_frame(300)
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=16),)),
        training=TrainingSpec(epochs=8, learning_rate=0.02),
    )
    run_id = store.create_run(spec, frame, source_name="b.csv")
    assert run_job(store, run_id).state == "finished"
    return store, run_id, frame, folder


def _evaluate(capsys, *args) -> tuple[int, dict | None, str]:
    code = main(["evaluate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


@pytest.mark.slow
def test_evaluate_prints_metrics_baselines_and_importances(run, capsys):
    store, run_id, _, _ = run
    run_dir = store.path(run_id)
    code, report, err = _evaluate(capsys, run_dir, "--repeats", "2")
    assert code == 0, err
    metrics = store.metrics(run_id)
    assert report["test"] == metrics["test"]
    assert {b["name"] for b in report["baselines"]} == {b["name"] for b in metrics["baselines"]}
    assert [row["class"] for row in report["per_class"]] == ["no", "yes"]
    assert report["decision_threshold"] == 0.5
    assert np.asarray(report["confusion_matrix"]["counts"]).sum() == metrics["num_rows"]["test"]
    importance = report["permutation_importance"]
    assert {c["column"] for c in importance["columns"]} == {"x1", "x2", "noise", "colour"}
    assert importance["metric"] == "accuracy" and importance["n_repeats"] == 2
    assert importance["num_rows"] == metrics["num_rows"]["test"]
    # label = f(2 x1 + x2 + colour): the informative column beats the noise column.
    by_name = {c["column"]: c["mean"] for c in importance["columns"]}
    assert by_name["x1"] > by_name["noise"]
    assert (run_dir / "importance.json").exists()


@pytest.mark.slow
def test_a_saved_threshold_changes_the_reported_threshold_metrics(run, capsys):
    store, run_id, _, _ = run
    run_dir = store.path(run_id)
    save_threshold(run_dir, 0.9)
    try:
        code, report, err = _evaluate(capsys, run_dir, "--no-importance")
    finally:
        (run_dir / "decision.json").unlink()
    assert code == 0, err
    predictions = store.predictions(run_id)
    chosen = predictions["prob_yes"] >= 0.9
    expected_recall = float((chosen & (predictions["actual"] == "yes")).sum() / (predictions["actual"] == "yes").sum())
    assert report["decision_threshold"] == 0.9
    assert report["test_at_threshold"]["recall"] == pytest.approx(expected_recall)
    assert "permutation_importance" not in report


@pytest.mark.slow
def test_evaluate_scores_the_model_on_a_labelled_file(run, capsys, tmp_path):
    store, run_id, frame, _ = run
    labelled = frame.head(120).copy()
    labelled.loc[labelled.index[:3], "label"] = None
    labelled.loc[labelled.index[3], "label"] = "maybe"
    path = tmp_path / "labelled.csv"
    labelled.to_csv(path, index=False)
    code, report, err = _evaluate(capsys, store.path(run_id), path, "--no-importance")
    assert code == 0, err
    data = report["data"]
    assert data["rows"] == 116
    assert 0.5 < data["metrics"]["accuracy"] <= 1.0
    assert any("never saw" in note for note in data["notes"]) and any("without a target" in n for n in data["notes"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (lambda tmp, run_dir: [tmp / "nowhere"], "not a finished LayerLab run"),
        (lambda tmp, run_dir: [run_dir, "--repeats", "0"], "--repeats must be at least 1"),
        (lambda tmp, run_dir: [run_dir, tmp / "missing.csv"], "could not open `missing.csv`"),
    ],
)
@pytest.mark.slow
def test_bad_input_exits_2_with_a_message(run, capsys, tmp_path, arguments, words):
    store, run_id, _, _ = run
    code, _, err = _evaluate(capsys, *arguments(tmp_path, store.path(run_id)))
    assert code == 2
    assert err.startswith("layerlab: ") and words in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_table_without_the_target_is_refused(run, capsys, tmp_path):
    store, run_id, frame, _ = run
    path = tmp_path / "unlabelled.csv"
    frame.drop(columns=["label"]).to_csv(path, index=False)
    code, _, err = _evaluate(capsys, store.path(run_id), path, "--no-importance")
    assert code == 2 and "no column 'label'" in err


@pytest.mark.slow
def test_test_rows_match_the_predictions_and_a_cell_lists_its_rows(run):
    store, run_id, frame, _ = run
    rows = held_out_rows(store, run_id)
    predictions = store.predictions(run_id)
    assert len(rows) == len(predictions)
    assert rows["label"].tolist() == predictions["actual"].tolist()  # same rows, same order
    assert set(rows.columns) == set(frame.columns)
    cell = cell_rows(predictions, rows, ("no", "yes"), "yes", "yes")
    expected = int(((predictions["actual"] == "yes") & (predictions["predicted"] == "yes")).sum())
    assert len(cell) == expected and (cell["label"] == "yes").all() and (cell["P(yes)"] >= 0.5).all()
    strict = cell_rows(predictions, rows, ("no", "yes"), "yes", "yes", threshold=0.95)
    assert len(strict) == int(((predictions["actual"] == "yes") & (predictions["prob_yes"] >= 0.95)).sum())


def test_normalised_rows_sum_to_one_and_empty_rows_stay_zero():
    shares = normalised(np.array([[3, 1], [0, 0]]))
    assert shares.tolist() == [[0.75, 0.25], [0.0, 0.0]]
