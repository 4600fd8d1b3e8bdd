""" "Show code": the standalone script reproduces a run without LayerLab, and `layerlab code` prints it."""

from __future__ import annotations

import ast
import json
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main as cli_main
from core.data.splitting import prepare_data
from core.deployment import codegen
from core.deployment.codegen import CodegenError, build_script, generate_script, layer_expression, optimizer_code
from core.model.layers import layer_kind
from core.run_store import RunStore
from core.spec import (
    LAYER_KINDS,
    BatchNormalizationLayer,
    ColumnSpec,
    DataSpec,
    DenseLayer,
    DropoutLayer,
    ModelSpec,
    PreprocessingSpec,
    RunSpec,
    TrainingSpec,
)
from core.training.run_job import run_job
from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "sample_data"
# Runs the script with every LayerLab module unimportable, so a stray `import core` fails loudly.
ISOLATED = (
    "import runpy, sys; sys.modules.update({'core': None, 'ui': None, 'layerlab': None}); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def _train(tmp_path: Path, frame: pd.DataFrame, spec: RunSpec, file_name: str) -> Path:
    frame.to_csv(tmp_path / file_name, index=False)
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(spec, frame, source_name=file_name)
    status = run_job(store, run_id)
    assert status.state == "finished", status
    return store.path(run_id)


def _run_script(script: str, folder: Path, *args: str) -> dict:
    path = folder / "layerlab_script.py"
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    completed = subprocess.run(
        [sys.executable, "-c", ISOLATED, str(path), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _imported_modules(script: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.slow
def test_script_reproduces_a_binary_run_with_preprocessing_options(tmp_path):
    frame = pd.read_csv(SAMPLES / "adult.csv").head(2000)
    spec = RunSpec(
        data=DataSpec(
            target="income",
            features=(
                "age",
                "workclass",
                "education",
                "hours_per_week",
                "capital_gain",
                "occupation",
                "native_country",
            ),
        ),  # fmt: skip
        preprocessing=PreprocessingSpec(
            columns=(
                ColumnSpec(name="capital_gain", scaling="log1p"),
                ColumnSpec(name="hours_per_week", outliers="clip_iqr", scaling="robust", missing_indicator=True),
                ColumnSpec(name="workclass", max_categories=4),
                ColumnSpec(
                    name="education",
                    encoding="ordinal",
                    order=("HS-grad", "Some-college", "Bachelors", "Masters", "Doctorate"),
                ),
                ColumnSpec(name="native_country", encoding="embedding", embedding_dim=3),
            )
        ),
        model=ModelSpec(layers=(DenseLayer(units=16, l2=0.001), DropoutLayer(rate=0.1), BatchNormalizationLayer())),
        training=TrainingSpec(epochs=2, batch_size=64, class_weight="balanced"),
    )
    run_dir = _train(tmp_path, frame, spec, "adult.csv")
    script = generate_script(run_dir)

    standard_library = {"argparse", "contextlib", "csv", "io", "json", "math", "pathlib", "re", "threading", "warnings"}
    assert _imported_modules(script) <= standard_library | {"keras", "numpy", "pandas", "sklearn"}
    result = _run_script(script, tmp_path)  # the default data path: the original file name

    expected = json.loads((run_dir / "metrics.json").read_text())
    assert result["task"] == "binary"
    assert result["rows"] == expected["num_rows"]
    assert abs(result["test"]["accuracy"] - expected["test"]["accuracy"]) <= 0.01
    assert abs(result["test"]["roc_auc"] - expected["test"]["roc_auc"]) <= 0.01


@pytest.mark.slow
def test_script_reproduces_a_regression_run_and_the_cli_prints_it(tmp_path, capsys, monkeypatch):
    frame = pd.read_csv(SAMPLES / "diamonds.csv").head(2000)
    spec = RunSpec(
        data=DataSpec(target="price", seed=7),
        preprocessing=PreprocessingSpec(
            columns=(
                ColumnSpec(name="carat", scaling="minmax"),
                ColumnSpec(name="cut", encoding="ordinal", order=("Fair", "Good", "Very Good", "Premium", "Ideal")),
            )
        ),
        model=ModelSpec(layers=(DenseLayer(units=32),)),
        training=TrainingSpec(optimizer="sgd", learning_rate=0.01, epochs=2),
    )
    run_dir = _train(tmp_path, frame, spec, "diamonds.csv")

    assert cli_main(["code", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert printed == generate_script(run_dir)

    # In this process (the binary test shows the script needs no LayerLab), with the table's path given.
    script = tmp_path / "layerlab_script.py"
    script.write_text(printed, encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "diamonds.csv")])
    runpy.run_path(str(script), run_name="__main__")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert abs(result["test"]["r2"] - expected["r2"]) <= 0.01
    assert result["test"]["mae"] == pytest.approx(expected["mae"], rel=0.02)


def test_cli_code_on_a_missing_or_unfinished_run_says_so(tmp_path, capsys):
    assert cli_main(["code", str(tmp_path / "no_such_run")]) == 2
    error = capsys.readouterr().err
    assert "no run folder" in error and "no_such_run" in error and "Traceback" not in error

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "spec.json").write_text(RunSpec(data=DataSpec(target="y")).to_json())
    assert cli_main(["code", str(unfinished)]) == 2
    error = capsys.readouterr().err
    assert "not a finished LayerLab run" in error and "metrics.json" in error

    for name in ("preprocessing.json", "target.json", "metrics.json"):
        (unfinished / name).write_text("{not json")
    assert cli_main(["code", str(unfinished)]) == 2
    error = capsys.readouterr().err
    assert "cannot be read" in error and "Traceback" not in error
    (unfinished / "spec.json").write_text('{"data": {"target": "y"}, "colour": 1}')
    assert cli_main(["code", str(unfinished)]) == 2
    assert "`colour` is not a known setting" in capsys.readouterr().err


def _mixed_frame(num_rows: int = 400, seed: int = 3) -> pd.DataFrame:
    """Every kind of column the script must prepare exactly as core does, with gaps and duplicates."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, num_rows)
    amount[::17] = np.nan
    score = rng.normal(50, 10, num_rows)
    score[::23] = 1e6  # an outlier to clip
    city = rng.choice(["Lyon", "Paris", "Nice", "Lille", "Metz", "Brest"], num_rows).astype(object)
    city[::13] = None
    size = rng.choice(["S", "M", "L", "XL"], num_rows).astype(object)
    size[5::29] = "NA"
    when = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, num_rows), unit="D")
    dates = when.strftime("%Y-%m-%d %H:%M").to_numpy(dtype=object)
    dates[::31] = None
    customer = rng.integers(0, 60, num_rows).astype(object)
    shop = np.array([f"shop-{i}" for i in rng.integers(0, 200, num_rows)], dtype=object)
    visit = (pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 400, num_rows), unit="D")).strftime(
        "%d/%m/%Y"
    )
    label = rng.choice(["bronze", "silver", "gold"], num_rows, p=[0.5, 0.3, 0.2]).astype(object)
    frame = pd.DataFrame(
        {"amount": amount, "score": score, "visits": rng.integers(0, 5, num_rows).astype(float), "city": city,
         "size": size, "signup": dates, "customer": customer, "shop": shop, "visit": visit, "label": label}
    )  # fmt: skip
    return pd.concat([frame, frame.head(20)], ignore_index=True)  # exact duplicates


@pytest.mark.parametrize("group", [None, "customer"])
def test_script_prepares_the_same_rows_and_matrices_as_core(tmp_path, group):
    frame = _mixed_frame()
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    table = pd.read_csv(tmp_path / "mixed.csv")
    columns = [
        ColumnSpec(name="amount", missing="mean", outliers="clip_iqr", scaling="log1p", missing_indicator=True),
        ColumnSpec(name="score", outliers="clip_zscore", scaling="minmax"),
        ColumnSpec(name="visits", missing="most_frequent", scaling="none"),
        ColumnSpec(name="city", missing="constant", fill_value="unknown", missing_indicator=True, max_categories=3),
        ColumnSpec(name="size", encoding="ordinal", order=("S", "M", "L", "XL"), missing="drop_rows"),
        ColumnSpec(name="signup", kind="datetime", missing_indicator=True),
        ColumnSpec(name="shop", encoding="hashing", num_bins=16),
        ColumnSpec(name="visit", kind="datetime"),  # day first (25/03/2022), detected from the values
    ]
    if group is None:
        columns.append(ColumnSpec(name="customer", kind="categorical", encoding="embedding"))
    spec = RunSpec(
        data=DataSpec(target="label", group_column=group, drop_duplicates=True, seed=11),
        preprocessing=PreprocessingSpec(columns=tuple(columns)),
    )
    prepared = prepare_data(table, spec.data, spec.preprocessing)
    assert next(c for c in prepared.preprocessing.columns if c.name == "visit").dayfirst
    script = build_script(spec, prepared.preprocessing, prepared.target, source_name="mixed.csv")
    path = tmp_path / "script.py"
    path.write_text(script, encoding="utf-8")
    ns = runpy.run_path(str(path), run_name="layerlab_script")

    rows = ns["load_rows"](str(tmp_path / "mixed.csv"))
    train, validation, test = ns["split_rows"](rows)
    assert list(train.index) == list(prepared.train.index)
    assert list(validation.index) == list(prepared.validation.index)
    assert list(test.index) == list(prepared.test.index)
    (y_train, y_validation, y_test), target = ns["encode_target"](rows, (train, validation, test))
    assert target["classes"] == list(prepared.target.classes)
    np.testing.assert_array_equal(y_train, prepared.y_train)
    np.testing.assert_array_equal(y_test, prepared.y_test)
    fitted = ns["fit_preprocessing"](train)
    np.testing.assert_array_equal(ns["transform"](train, fitted), prepared.x_train)
    np.testing.assert_array_equal(ns["transform"](validation, fitted), prepared.x_validation)
    np.testing.assert_array_equal(ns["transform"](test, fitted), prepared.x_test)


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_every_layer_kind_becomes_the_keras_layer_core_builds(kind):
    """Table-driven generation stays in step with core.model.building: same class, same config."""
    import keras

    layer = LAYER_KINDS[kind]()
    if kind == "dense":
        layer = LAYER_KINDS[kind](units=7, activation="tanh", l1=0.01, l2=0.02)
    expression = layer_expression(layer, "probe")
    built = eval(expression, {"keras": keras, "layers": keras.layers})  # noqa: S307 - our own generated code
    expected = layer_kind(layer).build(layer, "probe")
    assert type(built) is type(expected)
    assert _without_names(built.get_config()) == _without_names(expected.get_config())
    assert built.name == expected.name == "probe"


def _without_names(config):
    """A layer config without auto-generated names (a wrapped LSTM is "lstm" or "lstm_1")."""
    if isinstance(config, dict):
        return {key: _without_names(value) for key, value in config.items() if key != "name"}
    if isinstance(config, list | tuple):
        return [_without_names(value) for value in config]
    return config


def test_unknown_layer_kind_is_refused_with_a_message():
    class Fancy:
        kind = "fancy_attention"

    with pytest.raises(CodegenError, match="fancy_attention"):
        layer_expression(Fancy())


OPTIMIZER_CASES = [
    TrainingSpec(optimizer="adam", learning_rate=0.003),
    TrainingSpec(optimizer="sgd", learning_rate=0.05, momentum=0.5),
    TrainingSpec(optimizer="adamw", weight_decay=0.01),
    TrainingSpec(optimizer="rmsprop"),
]
if "schedule" in TrainingSpec.model_fields:
    from core.spec import ScheduleSpec

    OPTIMIZER_CASES += [
        TrainingSpec(optimizer="sgd", nesterov=True, clipnorm=1.0, schedule=ScheduleSpec(kind="step")),
        TrainingSpec(optimizer="nadam", clipvalue=0.5, schedule=ScheduleSpec(kind="exponential", decay_rate=0.9)),
        TrainingSpec(optimizer="adagrad", schedule=ScheduleSpec(kind="cosine", warmup_epochs=2, alpha=0.1)),
        TrainingSpec(schedule=ScheduleSpec(kind="cosine")),
        TrainingSpec(schedule=ScheduleSpec(kind="reduce_on_plateau", patience=2, decay_rate=0.2)),
    ]


@pytest.mark.parametrize("training", OPTIMIZER_CASES, ids=lambda t: f"{t.optimizer}-{getattr(t, 'schedule', None)}")
def test_generated_optimizer_matches_core(training):
    import keras

    from core.model.building import make_optimizer

    steps_per_epoch = math.ceil(1000 / 64)
    namespace = {
        "keras": keras,
        "math": math,
        "x_train": np.zeros((1000, 3)),
        "batch_size": 64,
        "EPOCHS": training.epochs,
    }
    exec("\n".join(line.removeprefix("    ") for line in optimizer_code(training)), namespace)  # noqa: S102
    try:
        expected = make_optimizer(training, steps_per_epoch=steps_per_epoch, epochs=training.epochs)
    except TypeError:  # an older core without schedules
        expected = make_optimizer(training)
    generated = namespace["optimizer"].get_config()
    wanted = expected.get_config()
    generated.pop("name"), wanted.pop("name")
    assert generated == wanted
    kind = getattr(getattr(training, "schedule", None), "kind", "constant")
    assert len(namespace["schedule_callbacks"]) == (kind == "reduce_on_plateau")


def test_a_setting_the_script_does_not_know_is_refused(monkeypatch):
    frame = _mixed_frame(120)
    spec = RunSpec(data=DataSpec(target="label"), training=TrainingSpec(epochs=3, patience=2))
    prepared = prepare_data(frame, spec.data, spec.preprocessing)
    build_script(spec, prepared.preprocessing, prepared.target, source_name="t.csv")  # known: fine

    monkeypatch.setattr(codegen, "KNOWN_TRAINING_FIELDS", codegen.KNOWN_TRAINING_FIELDS - {"patience"})
    with pytest.raises(CodegenError, match=r"training\.patience"):
        build_script(spec, prepared.preprocessing, prepared.target, source_name="t.csv")
    # Left at its default, an unknown setting changes nothing, so it is not refused.
    plain = RunSpec(data=DataSpec(target="label"))
    build_script(plain, prepared.preprocessing, prepared.target, source_name="t.csv")


@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_generated_network_has_the_same_layers_and_starting_weights_as_core(tmp_path, precision):
    import keras

    from core.spec import LAYER_KINDS, TABULAR_LAYER_KINDS
    from core.training.run_job import _build_network

    frame = _mixed_frame(200)
    layers = [DenseLayer(units=12, l2=0.01), DropoutLayer(rate=0.2), BatchNormalizationLayer()]
    layers += [LAYER_KINDS[kind]() for kind in TABULAR_LAYER_KINDS if kind not in {"dense", "dropout"}]
    spec = RunSpec(
        data=DataSpec(target="label"),
        preprocessing=PreprocessingSpec(
            columns=(ColumnSpec(name="customer", kind="categorical", encoding="embedding"),),
            numeric_embedding="periodic",  # its frequencies stay float32 under mixed precision, in both
            periodic_scale=75.0,
        ),
        model=ModelSpec(layers=(*layers, DenseLayer(units=5, activation="gelu"))),
    )
    prepared = prepare_data(frame, spec.data, spec.preprocessing)
    path = tmp_path / "script.py"
    path.write_text(
        build_script(spec, prepared.preprocessing, prepared.target, source_name="t.csv", precision=precision)
    )
    ns = runpy.run_path(str(path), run_name="layerlab_script")
    keras.utils.set_random_seed(5)
    generated = ns["build_network"](prepared.x_train.shape[1], ns["fit_preprocessing"](prepared.train))
    keras.utils.set_random_seed(5)
    expected = _build_network(spec, prepared, precision)

    assert [type(layer).__name__ for layer in generated.layers] == [type(layer).__name__ for layer in expected.layers]
    assert [layer.dtype_policy.name for layer in generated.layers] == [
        layer.dtype_policy.name for layer in expected.layers
    ]
    for mine, theirs in zip(generated.get_weights(), expected.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_generated_scripts_are_clean_python(tmp_path):
    """No undefined or unused names and no over-long lines, whatever the options (ruff, as for our own code)."""
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    frame = _mixed_frame(150)
    cases = [
        RunSpec(
            data=DataSpec(target="label", group_column="customer", drop_duplicates=True),
            preprocessing=PreprocessingSpec(
                columns=(
                    ColumnSpec(name="shop", encoding="hashing"),
                    ColumnSpec(name="city", encoding="embedding", max_categories=3),
                    ColumnSpec(name="signup", kind="datetime", missing="drop_rows"),
                )
            ),
            training=TrainingSpec(class_weight="balanced"),
        ),
        RunSpec(data=DataSpec(target="amount", features=("score", "visits", "size")), model=ModelSpec(layers=())),
        RunSpec(data=DataSpec(target="label")),  # binary, on the frame below
    ]
    for number, spec in enumerate(cases):
        if number == 2:
            from tests.conftest import make_binary_frame

            frame = make_binary_frame(150)
        prepared = prepare_data(frame, spec.data, spec.preprocessing)
        script = build_script(spec, prepared.preprocessing, prepared.target, source_name="t.csv", run_id="ab" * 12)
        path = tmp_path / f"script_{number}.py"
        path.write_text(script, encoding="utf-8")
        completed = subprocess.run(
            [str(ruff), "check", "--no-cache", "--isolated", "--select", "E,F,W,B", "--line-length", "120", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert completed.returncode == 0, completed.stdout[-3000:]


@pytest.mark.slow
def test_a_run_that_exploded_is_reproduced_with_its_kept_weights(tmp_path, capsys, monkeypatch):
    """SGD at 0.8 blows up in epoch 2: LayerLab stops and keeps epoch 1's weights; so does the script."""
    from tests.conftest import make_regression_frame

    spec = RunSpec(
        data=DataSpec(target="price"),
        model=ModelSpec(layers=(DenseLayer(units=32), DenseLayer(units=32))),
        training=TrainingSpec(optimizer="sgd", learning_rate=0.8, epochs=6, batch_size=16, early_stopping=False),
    )
    run_dir = _train(tmp_path, make_regression_frame(300), spec, "prices.csv")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["diverged"] and metrics["epochs_run"] < 6

    script = tmp_path / "layerlab_script.py"
    script.write_text(generate_script(run_dir), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "prices.csv")])
    runpy.run_path(str(script), run_name="__main__")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test"]["rmse"] == pytest.approx(metrics["test"]["rmse"], rel=0.02)


def test_a_saved_decision_threshold_is_used_and_said(tmp_path):
    from core.deployment.threshold import save_threshold
    from tests.conftest import make_binary_frame

    spec = RunSpec(data=DataSpec(target="label"))
    prepared = prepare_data(make_binary_frame(200), spec.data, spec.preprocessing)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "spec.json").write_text(spec.to_json())
    (run_dir / "preprocessing.json").write_text(prepared.preprocessing.to_json())
    (run_dir / "target.json").write_text(json.dumps(prepared.target.to_dict()))
    (run_dir / "metrics.json").write_text(json.dumps({"task": "binary", "test": {"accuracy": 0.9}}))
    assert "THRESHOLD = 0.5" in generate_script(run_dir)

    save_threshold(run_dir, 0.3)
    script = generate_script(run_dir)
    assert "THRESHOLD = 0.3" in script and "decision threshold of 0.3" in script
    path = tmp_path / "script.py"
    path.write_text(script, encoding="utf-8")
    scores = runpy.run_path(str(path), run_name="layerlab_script")["test_metrics"](
        np.array([1, 0]), np.array([[0.6, 0.4], [0.8, 0.2]]), 2
    )
    assert scores["accuracy"] == 1.0  # 0.4 >= 0.3 is the second class; 0.2 is not


@pytest.mark.parametrize(
    ("encoding", "sep", "decimal"),
    [("gbk", ";", ","), ("utf-8-sig", "\t", "."), ("utf-16", "|", "."), ("utf-8", ";", ".")],
)
def test_script_reads_files_the_data_page_reads(tmp_path, encoding, sep, decimal):
    """A GBK export with semicolons and decimal commas (a Chinese office suite's CSV) reads as the same table."""
    frame = _mixed_frame(60)
    frame["city"] = frame["city"].replace({"Lyon": "北京", "Paris": "上海"})
    frame.to_csv(tmp_path / "plain.csv", index=False)
    expected = pd.read_csv(tmp_path / "plain.csv")
    frame.to_csv(tmp_path / "exported.csv", index=False, sep=sep, decimal=decimal, encoding=encoding)
    spec = RunSpec(data=DataSpec(target="label"))
    prepared = prepare_data(expected, spec.data, spec.preprocessing)
    path = tmp_path / "script.py"
    path.write_text(build_script(spec, prepared.preprocessing, prepared.target, source_name="x.csv"), "utf-8")
    read = runpy.run_path(str(path), run_name="layerlab_script")["read_table"](str(tmp_path / "exported.csv"))
    pd.testing.assert_frame_equal(read, expected)


@pytest.mark.parametrize(("encoding", "sep", "decimal"), [("cp1252", ";", ","), ("gbk", ",", ".")])
def test_script_reads_a_file_the_way_the_run_read_it(tmp_path, encoding, sep, decimal):
    """The run records how its file was read; the script reads a file of that kind the same way. A
    Windows-1252 export ("Besançon", "Zürich", "€") decodes as GB18030 too, into other characters: without
    the run's encoding the script's categories would never match the ones the model learned."""
    from core.data.reading import load_table_file

    frame = _mixed_frame(60)
    frame["city"] = frame["city"].replace(
        {"Lyon": "Besançon", "Paris": "Zürich €"} if encoding == "cp1252" else {"Lyon": "北京", "Paris": "上海"}
    )
    path = tmp_path / "exported.csv"
    frame.to_csv(path, index=False, sep=sep, decimal=decimal, encoding=encoding)
    loaded = load_table_file(path)
    assert loaded.reading()["encoding"] in {encoding, "gb18030"} and loaded.reading()["delimiter"] == sep
    spec = RunSpec(data=DataSpec(target="label"))
    prepared = prepare_data(loaded.frame, spec.data, spec.preprocessing)
    script = build_script(spec, prepared.preprocessing, prepared.target, source_name="x.csv", reading=loaded.reading())
    (tmp_path / "script.py").write_text(script, "utf-8")
    read = runpy.run_path(str(tmp_path / "script.py"), run_name="layerlab_script")["read_table"](str(path))
    assert read["city"].dropna().tolist() == loaded.frame["city"].dropna().tolist()
    assert set(frame["city"].dropna()) == set(read["city"].dropna())
    np.testing.assert_allclose(read["amount"].to_numpy(dtype=float), loaded.frame["amount"].to_numpy(dtype=float))
