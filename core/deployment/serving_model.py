"""The downloadable model: raw columns in, predictions in the user's label space out.

`build_serving_model` wraps the trained network with the fitted preprocessing, rebuilt from built-in
Keras layers only (no custom classes), so `keras.saving.load_model` reads the file in safe mode without
LayerLab installed. String inputs need the TensorFlow backend; this is the one TF-bound step of a run.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.preprocessing import (
    MISSING_TOKENS,
    CategoricalColumn,
    DatetimeColumn,
    NumericColumn,
    PreprocessingState,
    datetime_seconds,
    hash_buckets,
)
from core.data.splitting import TargetInfo
from core.data.table_rules import model_text
from core.errors import CapError, ModelFileError
from core.i18n import t
from core.shared_mode.limits import BYTES_PER_PARAMETER

SERVING_MODEL_NAME = "layerlab_model"
# A date column read day first (03/04/2024 = 3 April) passes through an Identity layer of this name + its
# input's name, so whoever turns its text into seconds (`model_inputs`) reads it the way training did.
DAYFIRST_LAYER_PREFIX = "layerlab_dayfirst__"


def build_serving_model(network, state: PreprocessingState, target: TargetInfo, *, threshold: float = 0.5):
    """The network wrapped with its preprocessing and label decoding; inputs keyed by raw column name.

    `threshold` (binary only): the second class is the label when its probability is at least this
    (`core.deployment.threshold` saves a run's choice and rebuilds `model.keras` with it).
    """
    try:
        return _build_serving_model(network, state, target, suffix="", threshold=threshold)
    except ValueError as error:
        if "is used" not in str(error):
            raise
        # A column is named like one of the graph's own layers ("where", "add", "label_lookup"...): the
        # tensors get distinct names; callers still pass a dict keyed by the column names.
        return _build_serving_model(network, state, target, suffix="__column", threshold=threshold)


def build_preprocessing_model(state: PreprocessingState):
    """Raw columns → the encoded float32 matrix, exactly as `preprocessing.transform` computes it."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    inputs, features = _preprocessing_graph(state, "")
    return keras.Model(inputs, features, name="layerlab_preprocessing")


def preprocessing_graph(state: PreprocessingState, suffix: str = ""):
    """(raw inputs keyed by column name, the encoded float32 matrix) as Keras tensors, for models that read
    table columns beside something else (a text model with other columns)."""
    return _preprocessing_graph(state, suffix)


def _preprocessing_graph(state: PreprocessingState, suffix: str):
    import keras  # Keras loads only in workers and helpers, never in the web server
    from keras import layers  # Keras loads only in workers and helpers, never in the web server

    inputs = {}
    encoded = []
    for position, column in enumerate(state.columns):
        name = _tensor_name(column.name) + suffix
        if isinstance(column, NumericColumn):
            raw = keras.Input(shape=(1,), name=name, dtype="float32")
            encoded.append(_numeric_graph(raw, column))
        elif isinstance(column, DatetimeColumn):
            # Dates arrive as seconds since 1970 (float64: float32 would round them to minutes).
            raw = keras.Input(shape=(1,), name=name, dtype="float64")
            source = layers.Identity(name=DAYFIRST_LAYER_PREFIX + name)(raw) if column.dayfirst else raw
            encoded.append(_datetime_graph(source, column))
        elif column.encoding == "hashing":
            raw = keras.Input(shape=(1,), name=name, dtype="string")
            encoded.append(_hashing_graph(raw, column, position))
        else:
            raw = keras.Input(shape=(1,), name=name, dtype="string")
            tokens = list(column.vocabulary) + [t for t in MISSING_TOKENS if t not in column.vocabulary]
            lookup = layers.StringLookup(
                vocabulary=tokens, num_oov_indices=1, output_mode="int", name=f"layerlab_lookup_{position}"
            )(raw)
            # A fixed table maps each index to its encoded row: vocabulary → its slot or position, unseen →
            # "other", missing tokens → the fill value learned from the training rows (+ the missing flag).
            table = column.table(tokens)
            table_layer = layers.Embedding(
                table.shape[0], table.shape[1], trainable=False, name=f"layerlab_encode_{position}"
            )
            rows = layers.Reshape((column.width,), name=f"layerlab_flatten_{position}")(table_layer(lookup))
            table_layer.set_weights([table])
            encoded.append(rows)
        inputs[column.name] = raw
    features = encoded[0] if len(encoded) == 1 else layers.Concatenate(name="layerlab_features")(encoded)
    return inputs, features


def _build_serving_model(network, state: PreprocessingState, target: TargetInfo, *, suffix: str, threshold: float):
    import keras  # Keras loads only in workers and helpers, never in the web server

    inputs, features = _preprocessing_graph(state, suffix)
    outputs = label_outputs(network(features), target, threshold=threshold)
    with warnings.catch_warnings():
        # Keras warns when a dict key differs from its tensor's name; that is intended for names with "/".
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
        return keras.Model(inputs, outputs, name=SERVING_MODEL_NAME)


def label_outputs(output, target: TargetInfo, *, threshold: float = 0.5) -> dict:
    """The network's output in the user's terms: {"prediction"} for regression; {"label", "probabilities"}
    for classification (binary: the second class when its probability is at least `threshold`)."""
    from keras import layers, ops  # Keras loads only in workers and helpers, never in the web server

    if target.task == "regression":
        return {"prediction": ops.add(ops.multiply(output, np.float32(target.std)), np.float32(target.mean))}
    if target.task == "binary":
        probabilities = layers.Concatenate(name="layerlab_binary_probabilities")([ops.subtract(1.0, output), output])
        index = ops.reshape(ops.cast(ops.greater_equal(output, float(threshold)), "int32"), (-1,))
    else:
        probabilities = output
        index = ops.argmax(probabilities, axis=-1)
    label = layers.StringLookup(vocabulary=list(target.classes), invert=True, num_oov_indices=0, name="label_lookup")(
        index
    )
    return {"label": label, "probabilities": probabilities}


def _hashing_graph(raw, column: CategoricalColumn, position: int):
    """The Keras twin of hashing in `preprocessing.transform`: missing tokens → the fill value's bucket,
    anything else → `Hashing(num_bins)` (the same FarmHash64 as `preprocessing.hash_buckets`) → one-hot."""
    from keras import layers, ops  # Keras loads only in workers and helpers, never in the web server

    # 0 = a real value; 1.. = one of pandas' missing tokens ("", "NA", "nan"...).
    missing_index = layers.StringLookup(
        vocabulary=list(MISSING_TOKENS), num_oov_indices=1, output_mode="int", name=f"layerlab_missing_{position}"
    )(raw)
    missing = ops.greater(missing_index, 0)
    fill = column.fill_value
    fill_bucket = int(hash_buckets([fill], column.num_bins)[0]) if fill is not None else 0
    hashed = layers.Hashing(num_bins=column.num_bins, name=f"layerlab_hash_{position}")(raw)
    bucket = ops.where(missing, ops.cast(fill_bucket, hashed.dtype), hashed)
    rows = layers.CategoryEncoding(
        num_tokens=column.num_bins, output_mode="one_hot", name=f"layerlab_buckets_{position}"
    )(bucket)
    if column.indicator:
        rows = ops.concatenate([rows, ops.cast(missing, "float32")], axis=-1)
    return rows


def _numeric_graph(raw, column: NumericColumn):
    """The Keras twin of `preprocessing._transform_column` for numbers (float32, same order of operations)."""
    from keras import ops  # Keras loads only in workers and helpers, never in the web server

    missing = ops.logical_or(ops.isnan(raw), ops.isinf(raw))
    x = ops.where(missing, np.float32(column.fill), raw)
    if column.clip_low is not None:
        x = ops.clip(x, float(column.clip_low), float(column.clip_high))
    if column.log_shift is not None:
        x = ops.log1p(ops.maximum(ops.subtract(x, np.float32(column.log_shift)), np.float32(0.0)))
    x = ops.divide(ops.subtract(x, np.float32(column.center)), np.float32(column.scale))
    if column.indicator:
        x = ops.concatenate([x, ops.cast(missing, "float32")], axis=-1)
    return x


def _datetime_graph(raw, column: DatetimeColumn):
    """The Keras twin of `preprocessing.datetime_parts` + scaling, in float64 like numpy."""
    from keras import ops  # Keras loads only in workers and helpers, never in the web server

    missing = ops.logical_or(ops.isnan(raw), ops.isinf(raw))
    seconds = ops.where(missing, np.float64(column.fill_seconds), raw)
    floor, constant = ops.floor, float  # Python floats keep the tensors float64 (numpy scalars would not)
    days = floor(seconds / constant(86400.0))
    hour = floor((seconds - days * constant(86400.0)) / constant(3600.0))
    weekday = ops.mod(days + constant(3.0), constant(7.0))
    z = days + constant(719468.0)
    era = floor(z / constant(146097.0))
    doe = z - era * constant(146097.0)
    yoe = floor(
        (doe - floor(doe / constant(1460.0)) + floor(doe / constant(36524.0)) - floor(doe / constant(146096.0)))
        / constant(365.0)
    )
    doy = doe - (constant(365.0) * yoe + floor(yoe / constant(4.0)) - floor(yoe / constant(100.0)))
    mp = floor((constant(5.0) * doy + constant(2.0)) / constant(153.0))
    day = doy - floor((constant(153.0) * mp + constant(2.0)) / constant(5.0)) + constant(1.0)
    month = ops.where(mp < constant(10.0), mp + constant(3.0), mp - constant(9.0))
    year = yoe + era * constant(400.0) + ops.cast(month <= constant(2.0), "float64")
    parts = ops.concatenate([year, month, day, weekday, hour], axis=-1)
    scaled = ops.cast((parts - np.array(column.centers)) / np.array(column.scales), "float32")
    if column.indicator:
        scaled = ops.concatenate([scaled, ops.cast(missing, "float32")], axis=-1)
    return scaled


def _tensor_name(column: str) -> str:
    """Keras forbids "/" in names; the model is still called with the column's own name as the dict key."""
    return column.replace("/", "_")


def estimated_model_bytes(num_params: int, state: PreprocessingState) -> int:
    """About the size of `model.keras`: the network's weights (saved as float32, also under mixed precision)
    plus what the preprocessing graph stores: each category column's lookup table and vocabulary."""
    total = num_params * BYTES_PER_PARAMETER
    for column in state.columns:
        if isinstance(column, CategoricalColumn) and column.encoding != "hashing":
            num_tokens = len(column.vocabulary) + len(MISSING_TOKENS)
            total += (1 + num_tokens) * column.width * BYTES_PER_PARAMETER
            total += sum(len(token.encode("utf-8")) + 4 for token in column.vocabulary)  # quoted in config.json
    return total


def check_model_size(num_params: int, state: PreprocessingState, *, max_model_mb: int) -> None:
    """Raise `CapError` before a model file over this server's `max_model_mb` is written.

    Run creation checks the network's size already (`core.shared_mode.limits`); this is the last check before the
    files are written, with the preprocessing counted too.
    """
    size_mb = estimated_model_bytes(num_params, state) / 2**20
    if size_mb > max_model_mb:
        raise CapError(t("deploy.serving.too_big", size=math.ceil(size_mb), limit=max_model_mb))


def inference_model(network):
    """The same layers and weights as the functional `network` in a model that was never compiled.

    `model.save` writes a compiled model's optimizer state too (Adam: two more variables per weight, so the
    file triples) and its compile settings; a model used for predictions needs neither. The run's
    `checkpoint.keras` keeps them for "Continue training". The layers are shared, not copied (no second
    set of weights in memory); `keras.models.clone_model` would not do, as it compiles its clone.
    """
    import keras  # Keras loads only in workers and helpers, never in the web server

    if getattr(network, "optimizer", None) is None:
        return network
    return keras.Model(network.input, network.output, name=network.name)


def save_model_atomic(model, path: Path) -> None:
    """`model.save` writes in place; a crash mid-save would leave a broken file where a good one was."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".model.", suffix=".keras")
    os.close(handle)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def model_inputs(model, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A DataFrame → the dict of (rows, 1) arrays a LayerLab model takes (strings as objects, numbers as float32)."""
    specs = _input_tensors(model)
    missing = [name for name in specs if name not in frame.columns]
    if missing:
        separator = t("deploy.list_separator")
        raise ModelFileError(
            t(
                "deploy.serving.missing_columns",
                missing=separator.join(map(repr, missing)),
                needed=separator.join(map(repr, specs)),
            )
        )
    arrays = {}
    layer_names = {layer.name for layer in model.layers}
    for name, tensor in specs.items():
        column = frame[name]
        if "string" in str(tensor.dtype):
            arrays[name] = model_text(column).to_numpy(dtype=object).reshape(-1, 1)
        elif "float64" in str(tensor.dtype):  # a datetime column: seconds since 1970
            dayfirst = DAYFIRST_LAYER_PREFIX + str(tensor.name) in layer_names
            arrays[name] = datetime_seconds(column, dayfirst=dayfirst).reshape(-1, 1)
        else:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float32", na_value=np.nan)
            arrays[name] = values.reshape(-1, 1)
    return arrays


def _input_tensors(model) -> dict:
    """Column name → input tensor (the model's input dict keys are the raw column names)."""
    structure = model.input
    if isinstance(structure, dict):
        return dict(structure)
    tensors = structure if isinstance(structure, list | tuple) else [structure]
    return {tensor.name: tensor for tensor in tensors}


def predict_table(model, frame: pd.DataFrame, *, batch_size: int = 8192) -> pd.DataFrame:
    """The input rows plus prediction columns (label and one probability column per class, or the value)."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    arrays = model_inputs(model, frame)
    pieces: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(frame), batch_size):
        batch = {name: values[start : start + batch_size] for name, values in arrays.items()}
        outputs = model(batch)
        for key, value in outputs.items():
            pieces.setdefault(key, []).append(keras.ops.convert_to_numpy(value))
    result = frame.copy()
    if "prediction" in pieces:
        result["prediction"] = np.concatenate(pieces["prediction"]).reshape(-1)
        return result
    labels = np.concatenate(pieces["label"]).reshape(-1)
    result["prediction"] = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in labels]
    probabilities = np.concatenate(pieces["probabilities"])
    classes = model.get_layer("label_lookup").get_vocabulary()
    for index, name in enumerate(classes):
        result[f"prob_{name}"] = probabilities[:, index]
    return result


def load_model_file(path: Path):
    """Load a `.keras` file in safe mode, with a clear message for anything that is not a LayerLab model."""

    import keras  # Keras loads only in workers and helpers, never in the web server

    path = Path(path)
    if path.suffix.lower() != ".keras":
        raise ModelFileError(t("deploy.serving.not_keras", name=repr(path.name)))
    if not zipfile.is_zipfile(path):
        raise ModelFileError(t("deploy.serving.not_zip", name=repr(path.name)))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # noqa: BLE001 - any loader failure means an unusable file
        raise ModelFileError(
            t("deploy.serving.not_loaded", name=repr(path.name), error=f"{type(error).__name__}: {str(error)[:200]}")
        ) from None
    if model.name != SERVING_MODEL_NAME:
        raise ModelFileError(t("deploy.model_file.not_layerlab", name=repr(path.name)))
    return model
