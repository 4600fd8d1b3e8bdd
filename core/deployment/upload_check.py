"""Check an uploaded `.keras` file WITHOUT building anything: only models LayerLab itself could have made pass.

`keras.saving.load_model(safe_mode=True)` refuses code-bearing files (Lambda bytecode, functions from
arbitrary modules), but a 1 KB file declaring a 10^10-parameter Dense layer loads happily until memory runs
out (see ../shared/STACK_FACTS.md). So before any Keras code sees an uploaded file, `check_model_file`
reads it as a zip archive and a JSON config, and refuses:

- anything that is not a `.keras` file, not a zip, too big, or lacks `config.json`, `metadata.json` and
  `model.weights.h5` (each member under its own size cap);
- any object in the config whose (module, class) is not on the allowlist of the built-in Keras classes that
  LayerLab's own models use (no Lambda, no custom or registered objects, no functions from other modules);
- lookup layers whose vocabulary is a file path instead of an inline list;
- a model whose parameter count, computed from the config (units x inputs + biases...), is above the cap.

Loading and predicting then still happen in a child process with a memory limit (`core.deployment.prediction`).
This module never imports Keras.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelFileError
from core.i18n import t

MAX_MODEL_BYTES = 512 * 1024 * 1024
MAX_CONFIG_BYTES = 64 * 1024 * 1024  # inline vocabularies and lookup tables of large categories
MAX_METADATA_BYTES = 64 * 1024
MAX_PARAMS_DEFAULT = 100_000_000  # 400 MB of float32 weights; LAYERLAB_MAX_MODEL_PARAMS overrides
MAX_DEPTH = 64
REQUIRED_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
SERVING_MODEL_NAME = (
    "layerlab_model"  # core.deployment.serving_model.SERVING_MODEL_NAME (not imported: export imports numpy/keras code)
)

LAYERS = frozenset(
    {
        # What LayerLab's networks and serving models are built from (collected from exported models).
        "InputLayer", "Dense", "Dropout", "BatchNormalization", "Embedding", "StringLookup", "IntegerLookup",
        "Concatenate", "Reshape", "Normalization", "Hashing", "CategoryEncoding",
        # The layer kinds of the model editor.
        "LayerNormalization", "GaussianNoise", "Activation", "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "Flatten", "LSTM", "GRU", "Bidirectional",
        "LSTMCell", "GRUCell", "Add", "Multiply", "Average", "Rescaling",
        # Image models: resizing in the downloadable model, augmentation in the network (inactive when predicting).
        "Resizing", "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast",
        # Text models: raw strings → tokens inside the model.
        "TextVectorization",
    }
)  # fmt: skip
OPERATIONS = frozenset(
    {
        # keras.ops calls recorded as graph nodes by core.deployment.serving_model and core.model.building.
        "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "FloorDivide", "Mod", "Floor", "Negative", "Abs",
        "Isnan", "Isinf", "LogicalOr", "LogicalAnd", "LogicalNot", "Where", "Clip", "Log1p", "Log", "Exp",
        "Maximum", "Minimum", "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual", "Argmax",
        "Concatenate", "Take", "Reshape", "ExpandDims", "Squeeze", "Cast", "Sqrt", "Square", "Power", "Mean",
        "Sum", "Transpose", "GetItem", "Sigmoid", "Softmax", "Relu",
    }
)  # fmt: skip
OBJECTS = {
    None: {"__keras_tensor__", "__numpy__", "__tensor__"},
    "keras": {"DTypePolicy", "FloatDTypePolicy"},
    "keras.layers": LAYERS,
    "keras.src.models.functional": {"Functional"},
    "keras.src.models.sequential": {"Sequential"},
    "keras.models": {"Functional", "Sequential"},
    "keras.src.ops.numpy": OPERATIONS,
    "keras.src.ops.core": OPERATIONS,
    "keras.src.ops.nn": OPERATIONS,
    "keras.src.ops.math": OPERATIONS,
    "keras.initializers": {
        "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Zeros", "Ones",
        "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal", "Orthogonal", "Identity", "VarianceScaling",
    },
    "keras.regularizers": {"L1L2", "L1", "L2"},
    "keras.constraints": {"NonNeg", "MaxNorm", "MinMaxNorm", "UnitNorm"},
}  # fmt: skip
ACTIVATIONS = frozenset(
    {"relu", "sigmoid", "tanh", "elu", "selu", "gelu", "swish", "silu", "linear", "softmax", "softplus",
     "softsign", "leaky_relu", "relu6", "mish", "hard_sigmoid", "exponential"}
)  # fmt: skip
ACTIVATION_MODULES = {"keras.activations", "keras.src.activations.activations"}
# `compile_config` is never deserialized: models are loaded with compile=False.
SKIPPED_KEYS = {"compile_config"}
LOOKUP_LAYERS = {"StringLookup", "IntegerLookup", "TextVectorization"}  # a vocabulary path would read a file


@dataclass(frozen=True, slots=True)
class ModelInput:
    name: str
    dtype: str  # "string", "float32" (numbers) or "float64" (dates as seconds since 1970)


@dataclass(frozen=True, slots=True)
class CheckedModel:
    """What the check learned from an accepted file's config, without building it."""

    inputs: tuple[ModelInput, ...]
    outputs: tuple[str, ...]  # ("label", "probabilities") or ("prediction",)
    classes: tuple[str, ...]  # classification: the label vocabulary
    num_params: int
    threshold: float | None  # binary: the decision threshold built into the label

    @property
    def task(self) -> str:
        if not self.classes:
            return "regression"
        return "binary" if len(self.classes) == 2 else "multiclass"


def max_params() -> int:
    raw = os.environ.get("LAYERLAB_MAX_MODEL_PARAMS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_PARAMS_DEFAULT


def check_model_file(path: Path, *, name: str | None = None) -> CheckedModel:
    """Refuse anything LayerLab would not have produced; return the model's inputs, classes and size.

    Args:
        path: the file on disk.
        name: the name to show in messages (the upload's name); defaults to the file's name.

    Raises:
        ModelFileError: with what is wrong and what to do instead.
    """
    path = Path(path)
    shown = name or path.name
    if Path(shown).suffix.lower() != ".keras":
        raise ModelFileError(t("deploy.model_file.not_keras", name=repr(shown)))
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(
            t(
                "deploy.model_file.too_big",
                name=repr(shown),
                size=f"{size / 2**20:,.0f}",
                limit=f"{MAX_MODEL_BYTES / 2**20:,.0f}",
            )
        )
    if not zipfile.is_zipfile(path):
        raise ModelFileError(t("deploy.model_file.not_zip", name=repr(shown)))
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            missing = [member for member in REQUIRED_MEMBERS if member not in members]
            if missing:
                raise ModelFileError(
                    t("deploy.model_file.lacks", name=repr(shown), missing=t("deploy.list_separator").join(missing))
                )
            caps = {"config.json": MAX_CONFIG_BYTES, "metadata.json": MAX_METADATA_BYTES}
            for member, cap in caps.items():
                if members[member].file_size > cap:
                    raise ModelFileError(
                        t(
                            "deploy.model_file.member_too_big",
                            name=repr(shown),
                            member=member,
                            size=members[member].file_size,
                            cap=cap,
                        )
                    )
            weights_cap = max_params() * 8 + 16 * 2**20  # float64 at worst, plus HDF5 overhead
            if members["model.weights.h5"].file_size > weights_cap:
                raise ModelFileError(
                    t(
                        "deploy.model_file.weights_too_big",
                        name=repr(shown),
                        size=f"{members['model.weights.h5'].file_size / 2**20:,.0f}",
                        limit=max_params(),
                    )
                )
            # Read at most the cap: a member whose header understates its size cannot inflate past it.
            config_text = _read_capped(archive, "config.json", MAX_CONFIG_BYTES, shown)
            json.loads(_read_capped(archive, "metadata.json", MAX_METADATA_BYTES, shown))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise ModelFileError(
            # An OSError names the staged upload's server path; the visitor knows the file by its own name.
            t(
                "deploy.model_file.unreadable",
                name=repr(shown),
                error=f"{type(error).__name__}: {str(error).replace(str(path), shown)[:120]}",
            )
        ) from None
    try:
        config = json.loads(config_text)
    except ValueError:
        raise ModelFileError(t("deploy.model_file.bad_config", name=repr(shown))) from None
    if not isinstance(config, dict):
        raise ModelFileError(t("deploy.model_file.odd_config", name=repr(shown)))
    _check_objects(config, shown, depth=0)
    num_params = count_params(config, shown)
    if num_params > max_params():
        raise ModelFileError(
            t("deploy.model_file.too_many_params", name=repr(shown), count=num_params, limit=max_params())
        )
    return _describe(config, shown, num_params)


def _read_capped(archive: zipfile.ZipFile, member: str, cap: int, shown: str) -> bytes:
    with archive.open(member) as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise ModelFileError(t("deploy.model_file.member_over_cap", name=repr(shown), member=member, cap=cap))
    return data


def _check_objects(node, shown: str, *, depth: int) -> None:
    """Every serialized object must be an allowlisted built-in class; lookup vocabularies must be inline."""
    if depth > MAX_DEPTH:
        raise ModelFileError(t("deploy.model_file.too_deep", name=repr(shown)))
    if isinstance(node, list):
        for item in node:
            _check_objects(item, shown, depth=depth + 1)
        return
    if not isinstance(node, dict):
        return
    if "class_name" in node:
        _check_object(node, shown)
    for key, value in node.items():
        if key not in SKIPPED_KEYS:
            _check_objects(value, shown, depth=depth + 1)


def _check_object(node: dict, shown: str) -> None:
    module, class_name = node.get("module"), node.get("class_name")
    registered = node.get("registered_name")
    described = f"{module}.{class_name}" if module else str(class_name)
    if class_name in {"Lambda", "__lambda__", "TFSMLayer"}:
        raise ModelFileError(t("deploy.model_file.code_layer", name=repr(shown), layer=class_name))
    if module in ACTIVATION_MODULES and class_name == "function":
        if node.get("config") not in ACTIVATIONS:
            raise ModelFileError(
                t("deploy.model_file.unknown_activation", name=repr(shown), activation=repr(node.get("config")))
            )
        return
    if isinstance(registered, str) and ">" in registered:
        raise ModelFileError(t("deploy.model_file.custom_object", name=repr(shown), object=repr(registered)))
    if class_name == "function":
        raise ModelFileError(
            t(
                "deploy.model_file.function",
                name=repr(shown),
                function=repr(str(node.get("config"))[:60]),
                module=repr(module),
            )
        )
    if module not in OBJECTS or class_name not in OBJECTS[module]:
        raise ModelFileError(t("deploy.model_file.unknown_class", name=repr(shown), described=described))
    if class_name in LOOKUP_LAYERS and module == "keras.layers":
        vocabulary = (node.get("config") or {}).get("vocabulary")
        if vocabulary is not None and not isinstance(vocabulary, list):
            raise ModelFileError(
                t("deploy.model_file.vocabulary_file", name=repr(shown), vocabulary=repr(str(vocabulary)[:80]))
            )


def count_params(config: dict, shown: str = "the model") -> int:
    """Weights of every layer, from its config and build shape. A weight-bearing layer with no known input
    size is refused: its size cannot be checked before it is built."""
    total = 0
    for layer in _layers(config):
        total += _layer_params(layer, shown)
    return total


def _layers(node):
    """Every layer config, nested models included (their own layers are counted, not the model node)."""
    if isinstance(node, dict):
        inner = node.get("config") if isinstance(node.get("config"), dict) else {}
        if node.get("class_name") in {"Functional", "Sequential"}:
            for layer in inner.get("layers", []):
                yield from _layers(layer)
        elif node.get("class_name") == "Bidirectional":
            yield node  # counted as twice its wrapped layer
        elif "class_name" in node and isinstance(node.get("module"), str) and "layers" in node["module"]:
            yield node


def _dimension(value, shown: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelFileError(t("deploy.model_file.bad_size", name=repr(shown), value=repr(value)))
    return value


def _input_dim(layer: dict, shown: str) -> int:
    shape = (layer.get("build_config") or {}).get("input_shape")
    if isinstance(shape, list) and shape and isinstance(shape[0], list):  # several inputs: the first
        shape = shape[0]
    if not isinstance(shape, list) or not shape or shape[-1] is None:
        raise ModelFileError(t("deploy.model_file.no_input_size", name=repr(shown), layer=layer.get("class_name")))
    return _dimension(shape[-1], shown)


def _layer_params(layer: dict, shown: str) -> int:
    kind = layer.get("class_name")
    config = layer.get("config") or {}
    if kind == "Dense":
        units = _dimension(config.get("units"), shown)
        return units * _input_dim(layer, shown) + (units if config.get("use_bias", True) else 0)
    if kind == "Embedding":
        return _dimension(config.get("input_dim"), shown) * _dimension(config.get("output_dim"), shown)
    if kind == "BatchNormalization":
        return 4 * _input_dim(layer, shown)
    if kind == "LayerNormalization":
        return 2 * _input_dim(layer, shown)
    if kind in {"Conv1D", "Conv2D"}:
        filters = _dimension(config.get("filters"), shown)
        kernel = config.get("kernel_size") or [1]
        kernel = kernel if isinstance(kernel, list) else [kernel]
        return filters * math.prod(_dimension(k, shown) for k in kernel) * _input_dim(layer, shown) + filters
    if kind in {"LSTM", "GRU", "LSTMCell", "GRUCell"}:
        units = _dimension(config.get("units"), shown)
        gates = 4 if kind.startswith("LSTM") else 3
        bias = units * (2 if kind.startswith("GRU") and config.get("reset_after", True) else 1)
        return gates * (units * (_input_dim(layer, shown) + units) + bias)
    if kind == "Bidirectional":
        inner = config.get("layer") or {}
        if "build_config" not in inner:
            inner = {**inner, "build_config": layer.get("build_config")}
        return 2 * _layer_params(inner, shown)
    if kind == "Normalization":
        return 3 * _input_dim(layer, shown) if "build_config" in layer else 0
    return 0  # no weights (Dropout, Reshape, pooling...) or lookups whose size is bounded by the config's


def _describe(config: dict, shown: str, num_params: int) -> CheckedModel:
    inner = config.get("config") or {}
    if config.get("class_name") != "Functional" or inner.get("name") != SERVING_MODEL_NAME:
        raise ModelFileError(t("deploy.model_file.not_layerlab", name=repr(shown)))
    layers = {layer.get("name"): layer for layer in inner.get("layers", []) if isinstance(layer, dict)}
    inputs = []
    input_layers = inner.get("input_layers")
    if not isinstance(input_layers, dict):
        raise ModelFileError(t("deploy.model_file.unnamed_inputs", name=repr(shown)))
    for column, reference in input_layers.items():
        layer = layers.get(reference[0] if isinstance(reference, list) and reference else None, {})
        dtype = (layer.get("config") or {}).get("dtype", "float32")
        inputs.append(ModelInput(str(column), dtype if isinstance(dtype, str) else "float32"))
    outputs = tuple(inner.get("output_layers", {}) or ())
    classes: tuple[str, ...] = ()
    lookup = layers.get("label_lookup")
    if lookup is not None:
        classes = tuple(str(value) for value in (lookup.get("config") or {}).get("vocabulary") or ())
    return CheckedModel(
        inputs=tuple(inputs),
        outputs=outputs,
        classes=classes,
        num_params=num_params,
        threshold=_threshold(layers.values()) if len(classes) == 2 else None,
    )


def _threshold(layers) -> float:
    """The constant of the binary label's `greater_equal` (0.5 for models made before thresholds were saved)."""
    for layer in layers:
        if layer.get("class_name") != "GreaterEqual":
            continue
        for node in layer.get("inbound_nodes", []):
            for value in node.get("args", []) if isinstance(node, dict) else []:
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
    return 0.5


def model_threshold(path: Path) -> float | None:
    """The decision threshold built into a binary LayerLab `model.keras` (read from its config, nothing
    built); None for other models or an unreadable file."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        layers = [layer for layer in config["config"]["layers"] if isinstance(layer, dict)]
        lookup = next((layer for layer in layers if layer.get("name") == "label_lookup"), None)
        if lookup is None or len(lookup["config"].get("vocabulary") or ()) != 2:
            return None
        return _threshold(layers)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return None
