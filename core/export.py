"""The downloadable model: raw columns in, predictions in the user's label space out.

`build_serving_model` wraps the trained network with the fitted preprocessing, rebuilt from built-in
Keras layers only (no custom classes), so `keras.saving.load_model` reads the file in safe mode without
LayerLab installed. String inputs need the TensorFlow backend; this is the one TF-bound step of a run.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from core.datasets import TargetInfo
from core.errors import ModelFileError
from core.preprocessing import MISSING_TOKENS, NumericColumn, PreprocessingState

SERVING_MODEL_NAME = "layerlab_model"


def build_serving_model(network, state: PreprocessingState, target: TargetInfo):
    """The network wrapped with its preprocessing and label decoding; inputs keyed by raw column name."""
    try:
        return _build_serving_model(network, state, target, suffix="")
    except ValueError as error:
        if "is used" not in str(error):
            raise
        # A column is named like one of the graph's own layers ("where", "add", "label_lookup"...): the
        # tensors get distinct names; callers still pass a dict keyed by the column names.
        return _build_serving_model(network, state, target, suffix="__column")


def _build_serving_model(network, state: PreprocessingState, target: TargetInfo, *, suffix: str):
    import keras
    from keras import layers, ops

    inputs = {}
    encoded = []
    for column in state.columns:
        if isinstance(column, NumericColumn):
            raw = keras.Input(shape=(1,), name=_tensor_name(column.name) + suffix, dtype="float32")
            missing = ops.logical_or(ops.isnan(raw), ops.isinf(raw))
            filled = ops.where(missing, np.float32(column.median), raw)
            scaled = layers.Normalization(
                mean=[column.mean], variance=[column.std**2], name=f"layerlab_scale_{len(inputs)}"
            )(filled)
            encoded.append(scaled)
        else:
            raw = keras.Input(shape=(1,), name=_tensor_name(column.name) + suffix, dtype="string")
            extra_tokens = [t for t in MISSING_TOKENS if t not in column.vocabulary]
            lookup = layers.StringLookup(
                vocabulary=list(column.vocabulary) + extra_tokens,
                num_oov_indices=1,
                output_mode="int",
                name=f"layerlab_lookup_{len(inputs)}",
            )(raw)
            # A fixed table maps each index to its one-hot row: vocabulary → its slot, unseen → slot 0,
            # missing tokens → the most frequent category (the imputation learned from training rows).
            table = np.zeros((1 + len(column.vocabulary) + len(extra_tokens), column.width), dtype="float32")
            table[0, 0] = 1.0
            for i in range(len(column.vocabulary)):
                table[i + 1, i + 1] = 1.0
            fill_slot = 0 if column.most_frequent is None else column.vocabulary.index(column.most_frequent) + 1
            table[1 + len(column.vocabulary) :, fill_slot] = 1.0
            one_hot_layer = layers.Embedding(
                table.shape[0], table.shape[1], trainable=False, name=f"layerlab_one_hot_{len(inputs)}"
            )
            one_hot = layers.Reshape((column.width,), name=f"layerlab_flatten_{len(inputs)}")(one_hot_layer(lookup))
            one_hot_layer.set_weights([table])
            encoded.append(one_hot)
        inputs[column.name] = raw
    features = encoded[0] if len(encoded) == 1 else layers.Concatenate(name="layerlab_features")(encoded)
    output = network(features)
    if target.task == "regression":
        value = ops.add(ops.multiply(output, np.float32(target.std)), np.float32(target.mean))
        outputs = {"prediction": value}
    else:
        if target.task == "binary":
            probabilities = layers.Concatenate(name="layerlab_binary_probabilities")(
                [ops.subtract(1.0, output), output]
            )
        else:
            probabilities = output
        label = layers.StringLookup(
            vocabulary=list(target.classes), invert=True, num_oov_indices=0, name="label_lookup"
        )(ops.argmax(probabilities, axis=-1))
        outputs = {"label": label, "probabilities": probabilities}
    with warnings.catch_warnings():
        # Keras warns when a dict key differs from its tensor's name; that is intended for names with "/".
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
        return keras.Model(inputs, outputs, name=SERVING_MODEL_NAME)


def _tensor_name(column: str) -> str:
    """Keras forbids "/" in names; the model is still called with the column's own name as the dict key."""
    return column.replace("/", "_")


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
        raise ModelFileError(
            f"The table lacks the column(s) {', '.join(map(repr, missing))} that the model needs. "
            f"Expected all of: {', '.join(map(repr, specs))}. Add the missing columns (empty values are allowed).",
        )
    arrays = {}
    for name, tensor in specs.items():
        column = frame[name]
        if "string" in str(tensor.dtype):
            text = column.astype("object").where(column.notna(), "").map(str)
            arrays[name] = text.to_numpy(dtype=object).reshape(-1, 1)
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
    import keras

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
    import zipfile

    import keras

    path = Path(path)
    if path.suffix.lower() != ".keras":
        raise ModelFileError(f"{path.name!r} is not a .keras file. Expected a model downloaded from LayerLab.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path.name!r} is not a valid .keras file (it is not a zip archive). "
            "Download the model from LayerLab again."
        )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # noqa: BLE001 - any loader failure means an unusable file
        raise ModelFileError(
            f"{path.name!r} could not be loaded as a Keras model ({type(error).__name__}: {str(error)[:200]}). "
            "Only models downloaded from LayerLab are supported."
        ) from None
    if model.name != SERVING_MODEL_NAME:
        raise ModelFileError(
            f"{path.name!r} is a Keras model but not one made by LayerLab (it has no raw-column inputs). "
            "Use a model from LayerLab's Download page."
        )
    return model
