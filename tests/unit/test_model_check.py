"""Uploaded .keras files: refused with a clear message before anything is built, or checked and predicted
in a child process with a memory limit."""

import json
import zipfile
from pathlib import Path

import pytest

from core.deployment.prediction import predict_rows, predict_uploaded
from core.deployment.upload_check import check_model_file
from core.errors import AppError, DataError, ModelFileError
from core.run_store import RunStore
from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
from core.training.run_job import run_job
from tests.conftest import make_binary_frame

BAD_INPUTS = Path(__file__).resolve().parents[3] / "shared" / "bad_inputs"


def model_files() -> list[dict]:
    manifest = BAD_INPUTS / "MANIFEST.json"
    if not manifest.exists():
        return []
    return [entry for entry in json.loads(manifest.read_text()) if entry["file"].startswith("models/")]


EXPECTED_WORDS = {
    "50_text_renamed.keras": "not a valid .keras file",
    "51_lambda_layer.keras": "Lambda",
    "53_truncated.keras": "not a valid .keras file",
    "55_activation_os_system.keras": "module 'os'",
    "58_giant_dense_1e10_params.keras": "10,000,100,000 parameters",
    "60_bitflipped_crashes_interpreter.tflite": "only .keras",
}


@pytest.mark.skipif(not model_files(), reason="../shared/bad_inputs is not present")
@pytest.mark.parametrize("entry", model_files(), ids=lambda entry: Path(entry["file"]).name)
def test_every_bad_model_file_is_refused_with_a_clear_message(entry):
    path = BAD_INPUTS / entry["file"]
    with pytest.raises(ModelFileError) as caught:
        check_model_file(path)
    message = caught.value.message
    assert path.name in message and len(message) > 60
    expected = EXPECTED_WORDS.get(path.name)
    if expected:
        assert expected.lower() in message.lower(), message


@pytest.mark.skipif(not model_files(), reason="../shared/bad_inputs is not present")
def test_bad_model_files_never_reach_the_prediction_process(monkeypatch):
    import core.deployment.prediction

    def fail(*args, **kwargs):
        raise AssertionError("a refused file was handed to the prediction process")

    monkeypatch.setattr(core.deployment.prediction, "predict_rows", fail)
    rows = make_binary_frame(10).drop(columns=["label"])
    for entry in model_files():
        path = BAD_INPUTS / entry["file"]
        with pytest.raises(ModelFileError):
            predict_uploaded(path.read_bytes(), path.name, rows)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model_check")
    store = RunStore(folder / "runs")
    frame = make_binary_frame(200)
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=12), DenseLayer(units=5))),
        training=TrainingSpec(epochs=1),
    )
    run_id = store.create_run(spec, frame, source_name="b.csv")
    assert run_job(store, run_id).state == "finished"
    return store.path(run_id), frame


def _rewrite(source: Path, target: Path, edit) -> Path:
    """A copy of a real model whose config.json went through `edit`."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _network_layers(config: dict) -> list[dict]:
    network = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Functional")
    return network["config"]["layers"]


@pytest.mark.slow
def test_a_layerlab_model_passes_with_its_columns_classes_and_parameter_count(trained):
    import keras

    run_dir, frame = trained
    checked = check_model_file(run_dir / "model.keras")
    assert [column.name for column in checked.inputs] == ["x1", "x2", "noise", "colour"]
    assert {column.name: column.dtype for column in checked.inputs}["colour"] == "string"
    assert checked.classes == ("no", "yes") and checked.task == "binary"
    assert checked.threshold == 0.5
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True, compile=False)
    assert checked.num_params == model.count_params()


@pytest.mark.slow
def test_an_uploaded_layerlab_model_predicts_like_the_run(trained):
    run_dir, frame = trained
    rows = frame.drop(columns=["label"]).head(30)
    checked, result = predict_uploaded((run_dir / "model.keras").read_bytes(), "my model (2).keras", rows)
    expected = predict_rows(run_dir / "model.keras", rows)
    assert checked.num_params > 0
    assert result["prediction"].tolist() == expected["prediction"].tolist()
    assert result["prob_yes"].tolist() == pytest.approx(expected["prob_yes"].tolist(), abs=1e-6)


@pytest.mark.slow
def test_missing_columns_are_named_before_predicting(trained):
    run_dir, frame = trained
    with pytest.raises(DataError, match="'colour'"):
        predict_uploaded((run_dir / "model.keras").read_bytes(), "m.keras", frame.drop(columns=["label", "colour"]))


@pytest.mark.slow
def test_a_hidden_giant_layer_inside_the_network_is_refused(trained, tmp_path):
    run_dir, _ = trained

    def grow(config):
        dense = next(layer for layer in _network_layers(config) if layer["class_name"] == "Dense")
        dense["config"]["units"] = 2_000_000
        dense["build_config"]["input_shape"] = [None, 1000]

    path = _rewrite(run_dir / "model.keras", tmp_path / "giant.keras", grow)
    with pytest.raises(ModelFileError, match=r"declares 2,002,\d{3},\d{3} parameters"):
        check_model_file(path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda layer: layer.update(registered_name="evil>Layer"), "custom object 'evil>Layer'"),
        (lambda layer: layer.update(module="evil.layers"), "evil.layers.Dense"),
        (lambda layer: layer.update(class_name="UnitNormalization"), "UnitNormalization"),
        (lambda layer: layer.pop("build_config"), "without a recorded input size"),
    ],
)
@pytest.mark.slow
def test_unknown_or_unsized_layers_are_refused(trained, tmp_path, edit, words):
    run_dir, _ = trained

    def change(config):
        edit(next(layer for layer in _network_layers(config) if layer["class_name"] == "Dense"))

    path = _rewrite(run_dir / "model.keras", tmp_path / "edited.keras", change)
    with pytest.raises(ModelFileError, match=words.replace(".", r"\.")):
        check_model_file(path)


@pytest.mark.slow
@pytest.mark.parametrize("layer_class", ["StringLookup", "TextVectorization"])
def test_a_vocabulary_read_from_a_file_is_refused(trained, tmp_path, layer_class):
    run_dir, _ = trained

    def point_at_a_file(config):
        lookup = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "StringLookup")
        lookup["class_name"] = layer_class  # a text model's vectorizer reads its vocabulary the same way
        lookup["config"]["vocabulary"] = "/etc/passwd"

    path = _rewrite(run_dir / "model.keras", tmp_path / "vocabulary.keras", point_at_a_file)
    with pytest.raises(ModelFileError, match="from a file"):
        check_model_file(path)


@pytest.mark.slow
def test_a_keras_model_not_made_by_layerlab_is_refused(trained):
    run_dir, _ = trained
    with pytest.raises(ModelFileError, match="not one made by LayerLab"):
        check_model_file(run_dir / "network.keras", name="network.keras")


@pytest.mark.slow
def test_the_prediction_process_runs_under_a_memory_limit(trained, monkeypatch):
    run_dir, frame = trained
    monkeypatch.setenv("LAYERLAB_PREDICT_MEMORY_MB", "600")  # far below what TensorFlow needs to load
    with pytest.raises(AppError, match="600 MB"):
        predict_rows(run_dir / "model.keras", frame.drop(columns=["label"]).head(5))


@pytest.mark.slow
def test_every_layer_kind_of_the_model_editor_passes_with_its_exact_parameter_count(tmp_path):
    """The allowlist and the parameter arithmetic against Keras's own count, for every layer kind."""
    import keras
    import numpy as np
    import pandas as pd
    from keras import layers

    from core.data.preprocessing import fit_preprocessing
    from core.data.splitting import TargetInfo
    from core.deployment.serving_model import build_serving_model, save_model_atomic

    columns = [f"c{i}" for i in range(16)]
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 16)), columns=columns)
    state = fit_preprocessing(frame, columns, max_categories=5)
    features = keras.Input(shape=(16,))
    sequence = layers.Reshape((16, 1))(features)
    x = layers.Conv1D(4, 3, activation="relu")(sequence)
    x = layers.MaxPooling1D(2)(x)
    x = layers.LSTM(5, return_sequences=True)(x)
    x = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
    x = layers.GlobalAveragePooling1D()(x)
    image = layers.Reshape((4, 4, 1))(features)
    y = layers.Conv2D(2, 2, padding="same")(image)
    y = layers.MaxPooling2D(2)(y)
    y = layers.GlobalAveragePooling2D()(y)
    z = layers.Embedding(10, 3)(keras.ops.cast(keras.ops.take(features, [0], axis=1), "int32"))
    joined = layers.Concatenate()([x, y, layers.Flatten()(z)])
    joined = layers.LayerNormalization()(joined)
    joined = layers.GaussianNoise(0.1)(layers.Activation("tanh")(layers.BatchNormalization()(joined)))
    joined = layers.Dropout(0.1)(layers.Dense(6, kernel_regularizer=keras.regularizers.L1L2(l1=0.01))(joined))
    network = keras.Model(features, layers.Dense(1, activation="sigmoid")(joined), name="layerlab_network")
    model = build_serving_model(network, state, TargetInfo(name="t", task="binary", classes=("a", "b")), threshold=0.3)
    path = tmp_path / "every_kind.keras"
    save_model_atomic(model, path)
    checked = check_model_file(path)
    assert checked.num_params == model.count_params()
    assert checked.threshold == pytest.approx(0.3)
    assert [column.name for column in checked.inputs] == columns


@pytest.mark.slow
def test_a_model_with_every_preprocessing_option_passes(tmp_path):
    import keras
    import numpy as np
    import pandas as pd

    from core.data.preprocessing import fit_preprocessing
    from core.data.splitting import TargetInfo
    from core.deployment.serving_model import build_serving_model, save_model_atomic
    from core.model.building import build_model
    from core.spec import ColumnSpec, PreprocessingSpec

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(size=60),
            "score": rng.normal(size=60),
            "city": rng.choice(["a", "b", "c", "d"], size=60).astype(object),
            "size": rng.choice(["S", "M", "L"], size=60).astype(object),
            "shop": rng.choice(["x", "y", "z"], size=60).astype(object),
            "brand": rng.choice(["p", "q"], size=60).astype(object),
            "day": pd.date_range("2024-01-01", periods=60, freq="D"),
        }
    )
    spec = PreprocessingSpec(
        columns=(
            ColumnSpec(name="amount", scaling="log1p", missing_indicator=True),
            ColumnSpec(name="score", scaling="robust", missing="constant", fill_value=0.0),
            ColumnSpec(name="city", encoding="embedding", embedding_dim=2),
            ColumnSpec(name="size", encoding="ordinal", order=("S", "M", "L")),
            ColumnSpec(name="shop", encoding="hashing", num_bins=8),
            ColumnSpec(name="brand", missing_indicator=True),
        )
    )
    state = fit_preprocessing(frame, list(frame.columns), max_categories=10, spec=spec)
    network = build_model(ModelSpec(), state.num_features, "multiclass", 3, embeddings=state.embeddings())
    model = build_serving_model(network, state, TargetInfo(name="t", task="multiclass", classes=("u", "v", "w")))
    path = tmp_path / "options.keras"
    save_model_atomic(model, path)
    checked = check_model_file(path)
    assert checked.num_params == keras.saving.load_model(path, safe_mode=True).count_params()
    assert checked.task == "multiclass" and checked.threshold is None
    assert {column.name: column.dtype for column in checked.inputs}["day"] == "float64"


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_an_archive_without_the_keras_parts_is_refused(tmp_path):
    path = _archive(tmp_path / "parts.keras", {"config.json": b"{}", "notes.txt": b"hello"})
    with pytest.raises(ModelFileError, match="lacks metadata.json, model.weights.h5"):
        check_model_file(path)


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import core.deployment.upload_check

    monkeypatch.setattr(core.deployment.upload_check, "MAX_CONFIG_BYTES", 1000)
    members = {"config.json": b" " * 5000 + b"{}", "metadata.json": b"{}", "model.weights.h5": b""}
    path = _archive(tmp_path / "big.keras", members)
    with pytest.raises(ModelFileError, match="config.json of 5,002 bytes; at most 1,000"):
        check_model_file(path)


def test_a_config_that_is_not_json_is_refused(tmp_path):
    members = {"config.json": b"{not json", "metadata.json": b"{}", "model.weights.h5": b""}
    with pytest.raises(ModelFileError, match="unreadable config.json"):
        check_model_file(_archive(tmp_path / "broken.keras", members))
