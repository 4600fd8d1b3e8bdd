"""One preprocessing implementation for tables (core/data/table_rules.py), shipped verbatim in the generated script
and in the ONNX zip's preprocess.py, and the run's record of how its file was read, used by every consumer.

Tables in Windows-1252, GBK and UTF-16 with ';' separators and decimal commas: the script's matrix through the
run's network and the ONNX zip (preprocess.py + onnxruntime) give the predictions `layerlab predict` gives."""

from __future__ import annotations

import ast
import importlib.util
import json
import runpy
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import table_rules
from tests.conftest import REPO_ROOT

CORE = REPO_ROOT / "core"
# The shared rules: defined once, in table_rules.py, and nowhere else in core (neither as code nor as a template).
SHARED_RULES = (
    "numbers", "category_strings", "class_name", "natural_key", "hash_buckets", "parse_dates", "parse_mixed",
    "datetime_seconds", "datetime_parts", "fit_numeric", "encode_numeric", "fit_categorical",
    "encode_categorical", "fit_datetime", "fit_dates", "encode_dates", "encode_datetime",
)  # fmt: skip

CASES = {
    "cp1252": ("cp1252", ";", ",", ["Köln", "Zürich", "München", "Besançon"]),
    "gbk": ("gbk", ";", ",", ["北京", "上海", "广州", "深圳"]),
    "utf-16": ("utf-16", ";", ",", ["北京", "上海", "广州", "深圳"]),
}


def test_the_shared_rules_are_defined_only_in_table_rules():
    defined = {}
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in SHARED_RULES:
                defined.setdefault(node.name, []).append(path.relative_to(REPO_ROOT).as_posix())
            if isinstance(node, ast.Constant) and isinstance(node.value, str):  # code templates
                for name in SHARED_RULES:
                    if f"def {name}(" in node.value:
                        defined.setdefault(name, []).append(path.relative_to(REPO_ROOT).as_posix() + " (template)")
    elsewhere = {name: paths for name, paths in defined.items() if paths != ["core/data/table_rules.py"]}
    assert not elsewhere, elsewhere
    assert {"class_name", "datetime_parts", "hash_buckets", "category_strings"} <= set(defined)


def test_table_rules_imports_only_the_standard_library_numpy_and_pandas():
    tree = ast.parse((CORE / "data" / "table_rules.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"contextlib", "inspect", "re", "sys", "threading", "warnings", "numpy", "pandas", "keras"}
    shipped = table_rules.shipped_source()
    assert "core." not in shipped and "import " not in shipped.replace("import keras  #", "#")
    namespace: dict = {}
    exec("\n".join(table_rules.SHIPPED_IMPORTS) + "\n" + shipped, namespace)  # runs on its own imports
    assert namespace["class_name"](1.0) == "1" and namespace["natural_key"]("10") > namespace["natural_key"]("9")


def test_the_script_and_the_zip_carry_table_rules_verbatim():
    from core.deployment.formats import preprocess_source

    source = preprocess_source()
    assert table_rules.shipped_source() in source
    assert "def read_rows(" in source and "from core" not in source and "import core" not in source
    compile(source, "preprocess.py", "exec")


def _table(case: str, num_rows: int = 160, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cities = np.array(CASES[case][3], dtype=object)
    city = rng.choice(cities, num_rows)
    amount = np.round(rng.normal(10.0, 3.0, num_rows), 2)
    other = np.round(rng.uniform(0, 1, num_rows), 3)
    score = (amount - 10.0) / 3.0 + np.where(city == cities[0], 1.0, -0.4) + rng.normal(0, 0.3, num_rows)
    frame = pd.DataFrame({"city": city, "amount": amount, "other": other})
    frame.loc[::19, "amount"] = np.nan
    frame.loc[7::23, "city"] = None
    frame["label"] = np.where(score > 0, "yes", "no")
    return frame


@pytest.fixture(scope="module", params=sorted(CASES))
def run(request, tmp_path_factory):
    """A finished run trained from a file in the case's encoding, with the run's record of how it was read."""
    from core.data.reading import load_table_file
    from core.run_store import RunStore
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
    from core.training.run_job import run_job

    case = request.param
    encoding, sep, decimal, _ = CASES[case]
    folder = tmp_path_factory.mktemp(f"one-{case}")
    path = folder / f"table_{case}.csv"
    _table(case).to_csv(path, index=False, sep=sep, decimal=decimal, encoding=encoding)
    loaded = load_table_file(path)
    reading = loaded.reading()
    assert reading["delimiter"] == sep and reading["decimal"] == decimal, reading
    assert set(loaded.frame["city"].dropna()) == set(CASES[case][3])
    store = RunStore(folder / "runs")
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(epochs=2, learning_rate=0.02),
    )
    run_id = store.create_run(spec, loaded.frame, source_name=path.name, reading=reading)
    assert run_job(store, run_id).state == "finished"
    run_dir = store.path(run_id)
    # A file of new rows of the same kind: different values, same encoding, separator and decimal mark.
    new_rows = folder / f"new_{case}.csv"
    _table(case, num_rows=50, seed=11).drop(columns="label").to_csv(
        new_rows, index=False, sep=sep, decimal=decimal, encoding=encoding
    )
    return run_dir, path, new_rows


def _layerlab_predict(run_dir: Path, path: Path, tmp_path: Path) -> pd.DataFrame:
    from core.deployment.prediction import predict_file

    out = tmp_path / "predicted.csv"
    predict_file(run_dir / "model.keras", str(path), str(out))
    return pd.read_csv(out, encoding="utf-8")


def _probabilities(table: pd.DataFrame) -> np.ndarray:
    return table[sorted(column for column in table.columns if column.startswith("prob_"))].to_numpy(dtype="float64")


@pytest.mark.slow
def test_the_script_prepares_new_rows_as_layerlab_predict_does(run, tmp_path):
    """The generated script reads the file with the run's READ_AS and encodes it with the shipped rules: the run's
    network on that matrix gives `layerlab predict`'s probabilities."""
    import keras

    from core.deployment.codegen import generate_script

    run_dir, path, new_rows = run
    script = generate_script(run_dir)
    assert table_rules.shipped_source().rstrip("\n") in script
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    namespace = runpy.run_path(str(tmp_path / "script.py"), run_name="layerlab_script")
    train, _, _ = namespace["split_rows"](namespace["load_rows"](str(path)))
    fitted = namespace["fit_preprocessing"](train)
    stored = {column["name"]: column for column in json.loads((run_dir / "preprocessing.json").read_text())["columns"]}
    assert fitted["city"]["vocabulary"] == stored["city"]["vocabulary"]  # "Köln", "北京": decoded as in the run
    assert fitted["amount"]["center"] == pytest.approx(stored["amount"]["center"])
    network = keras.saving.load_model(run_dir / "network.keras", compile=False)
    for table in (path, new_rows):
        x = namespace["transform"](namespace["read_table"](str(table)), fitted)
        output = np.asarray(network.predict(x, verbose=0), dtype="float64")
        expected = _probabilities(_layerlab_predict(run_dir, table, tmp_path))
        np.testing.assert_allclose(output[:, 0], expected[:, 1], atol=1e-5)


@pytest.mark.slow
def test_the_onnx_zip_predicts_new_rows_as_layerlab_predict_does(run, tmp_path):
    """The ONNX zip's preprocess.py (numpy + pandas) reads the file with preprocessing.json's "reading" and gives,
    through onnxruntime, the labels and probabilities of `layerlab predict`."""
    import onnxruntime

    from core.deployment.formats import export_artifact

    run_dir, path, new_rows = run
    folder = tmp_path / "onnx"
    with zipfile.ZipFile(export_artifact(run_dir, "onnx")) as archive:
        archive.extractall(folder)
    spec = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
    meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
    assert spec["reading"] == meta["reading"] and spec["reading"]["decimal"] == ","
    assert 'read_rows("new_rows.csv", spec["reading"])' in (folder / "README.md").read_text(encoding="utf-8")
    source = (folder / "preprocess.py").read_text(encoding="utf-8")
    assert "from core" not in source and "import core" not in source
    loader = importlib.util.spec_from_file_location("layerlab_preprocess", folder / "preprocess.py")
    preprocess = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(preprocess)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    for table in (path, new_rows):
        inputs = preprocess.preprocess(preprocess.read_rows(str(table), spec["reading"]), spec)
        outputs = dict(zip(names, session.run(None, inputs), strict=True))
        result = preprocess.postprocess(outputs, spec)
        expected = _layerlab_predict(run_dir, table, tmp_path)
        np.testing.assert_allclose(_probabilities(result), _probabilities(expected), atol=1e-5)
        assert result["prediction"].astype(str).tolist() == expected["prediction"].astype(str).tolist()
