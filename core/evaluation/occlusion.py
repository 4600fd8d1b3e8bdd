"""What a network looked at: where a grey patch on an image lowers its prediction, which words of a text pushed it.

Both answers cover part of one input and watch the probability of the predicted class (occlusion, Zeiler & Fergus
2014): a grey patch slid over the image, side/7 wide in steps of half a patch, gives a small grid of drops (a big
drop: the network needed that part); each word of a text left out in turn (each character of Chinese or Japanese
text) gives that word's push (positive: the word pushed toward the class, negative: against it).

`occlusion_map` and `word_pushes` are plain numpy around any `predict` function. `run_heat_map` and
`run_word_pushes` ask a run's own `model.keras` in a child process (`python -m core.evaluation.occlusion`, a JSON
request on standard input, the JSON answer on the last line of standard output), because the web server never
imports Keras; every variant of a request goes through the model in a few batched calls.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.splitting import TargetInfo
from core.data.text import cjk_share
from core.deployment.prediction import memory_limit_mb
from core.deployment.serving_model import load_model_file
from core.errors import AppError
from core.evaluation.metrics import probabilities_from_output
from core.failures import OUT_OF_MEMORY, Failure, user_error, write_failure_file
from core.i18n import LANGUAGE_ENV, get_language, t
from core.run_store import RunFiles
from core.runtime.child import child_error, run_module

GREY = 128  # the patch's value: mid-grey on 0..255 pixels
PATCHES_PER_SIDE = 7  # a patch is about a seventh of the image's side; it moves half a patch at a time
MAX_UNITS = 150  # words (or characters) per text that get a push; the rest of a long text is shown as it is
CJK_SHARE = 0.3  # as core.kinds.text.CJK_SHARE: above this share of CJK characters a text is read by character
BATCH = 256  # variants per model call in the child
BATCH_VALUES = 2**21  # at most about this many pixel values per call: 256 digits, 13 photos of 224 × 224
TIMEOUT_S = 180
_PIECES = re.compile(r"\s+|\S+")


@dataclass(frozen=True, slots=True)
class HeatMap:
    """The drop of one class's probability with a grey patch at each position (rows × columns of positions).

    `rows`/`columns`: the top-left pixel of each patch position; a cell's centre is `position + patch / 2`.
    """

    drops: np.ndarray
    rows: tuple[int, ...]
    columns: tuple[int, ...]
    patch: int
    stride: int
    probability: float  # the class's probability on the whole image
    class_name: str

    def to_dict(self) -> dict:
        return {**asdict(self), "drops": self.drops.round(6).tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> HeatMap:
        return cls(
            drops=np.asarray(data["drops"], dtype="float64"),
            rows=tuple(data["rows"]),
            columns=tuple(data["columns"]),
            patch=int(data["patch"]),
            stride=int(data["stride"]),
            probability=float(data["probability"]),
            class_name=str(data["class_name"]),
        )


@dataclass(frozen=True, slots=True)
class TextPushes:
    """A text cut into pieces that join back into it, and each piece's push on one class's probability.

    A push is P(class | the text) − P(class | the text without that piece): positive pushed toward the class. It is
    None for spaces between words and for pieces past `MAX_UNITS`.
    """

    pieces: tuple[str, ...]
    pushes: tuple[float | None, ...]
    probability: float
    class_name: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TextPushes:
        return cls(tuple(data["pieces"]), tuple(data["pushes"]), float(data["probability"]), str(data["class_name"]))


def patch_geometry(side: int) -> tuple[int, int]:
    """(patch, stride) for a square image of `side` pixels: about side/7, moved by half a patch (13 × 13 positions
    on 28 pixels, 15 × 15 on 16)."""
    if side < 2:
        raise ValueError(f"side must be at least 2 pixels. Received: side={side}")
    patch = max(2, round(side / PATCHES_PER_SIDE))
    return patch, max(1, patch // 2)


def patch_positions(length: int, patch: int, stride: int) -> tuple[int, ...]:
    """Top-left offsets along one side, the last one flush with the edge so every pixel gets covered."""
    positions = list(range(0, max(length - patch, 0) + 1, stride))
    if positions[-1] != max(length - patch, 0):
        positions.append(length - patch)
    return tuple(positions)


def occlusion_map(
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    class_index: int,
    *,
    class_name: str = "",
    patch: int | None = None,
    stride: int | None = None,
    batch: int | None = None,
) -> HeatMap:
    """The drop of `class_index`'s probability with a grey patch at each position of `image`.

    Args:
        predict: uint8 images (n, height, width, channels) → probabilities (n, classes).
        image: one uint8 image (height, width, channels).
        class_index: the class whose probability is watched (the predicted one).
        patch, stride: in pixels; `patch_geometry` of the shorter side when not given.
        batch: occluded images per `predict` call (default: as many as keep the call to about 2 million values).

    Example:
        >>> corner = lambda x: np.stack([x[:, :4, :4, 0].mean((1, 2)) / 255, 1 - x[:, :4, :4, 0].mean((1, 2)) / 255], 1)
        >>> heat = occlusion_map(corner, np.full((28, 28, 1), 255, "uint8"), 0)
        >>> heat.drops.shape, int(heat.drops.argmax())  # 13 × 13 positions; the largest drop at the first one
        ((13, 13), 0)
    """
    image = np.asarray(image, dtype="uint8")
    if image.ndim != 3:
        raise ValueError(f"image must be (height, width, channels). Received: shape={image.shape}")
    height, width = image.shape[:2]
    default_patch, default_stride = patch_geometry(min(height, width))
    patch, stride = patch or default_patch, stride or default_stride
    rows, columns = patch_positions(height, patch, stride), patch_positions(width, patch, stride)
    batch = batch or max(8, min(BATCH, BATCH_VALUES // image.size))
    probability = float(np.asarray(predict(image[None]))[0, class_index])
    corners = [(row, column) for row in rows for column in columns]
    probabilities = []
    for start in range(0, len(corners), batch):
        chunk = corners[start : start + batch]
        covered = np.repeat(image[None], len(chunk), axis=0)
        for position, (row, column) in enumerate(chunk):
            covered[position, row : row + patch, column : column + patch] = GREY
        probabilities.append(np.asarray(predict(covered))[:, class_index])
    drops = probability - np.concatenate(probabilities).astype("float64").reshape(len(rows), len(columns))
    return HeatMap(drops, rows, columns, patch, stride, probability, class_name)


def reads_characters(text: str, split: str | None = None) -> bool:
    """Whether a text's units are characters rather than words: when the model reads characters (`split`, the run's
    vectorizer setting, is "character"), when most of the text is Chinese, Japanese or Korean, or when it has no
    spaces at all and the model's own splitting is unknown (scripts written without spaces)."""
    stripped = str(text).strip()
    if not stripped:
        return False
    if split == "character" or cjk_share(pd.Series([stripped])) >= CJK_SHARE:
        return True
    return split is None and len(stripped) > 1 and not any(char.isspace() for char in stripped)


def text_pieces(text: str, *, characters: bool) -> list[str]:
    """The text cut into pieces that join back into it: words and the spaces between them, or single characters."""
    text = str(text)
    return list(text) if characters else _PIECES.findall(text)


def _is_unit(piece: str) -> bool:
    return bool(piece) and not piece.isspace()


def word_pushes(
    predict: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    class_indices: Sequence[int],
    *,
    class_names: Sequence[str] | None = None,
    split: str | None = None,
    max_units: int = MAX_UNITS,
) -> list[TextPushes]:
    """Each word's push on the probability of its text's class: the probability with every word minus the
    probability with that one word left out. Every variant of every text goes to `predict` in one call.

    Args:
        predict: texts → probabilities (n, classes).
        texts: the texts, as the model reads them.
        class_indices: per text, the class whose probability is watched (the predicted one).
        class_names: per text, that class's name (kept in the result for the page).
        split: the run's vectorizer splitting ("whitespace", "character"), see `reads_characters`.
        max_units: words (or characters) per text that get a push; the rest are left in every variant.

    Example:
        >>> sad = lambda xs: np.array([[0.9, 0.1] if "awful" in x else [0.2, 0.8] for x in xs])
        >>> pushes = word_pushes(sad, ["an awful film"], [0])[0]
        >>> max(zip(pushes.pushes, pushes.pieces), key=lambda pair: pair[0] or 0)
        (0.7, 'awful')
    """
    if len(texts) != len(class_indices):
        raise ValueError(f"texts and class_indices must have the same length. Received: {len(texts)} and "
                         f"{len(class_indices)}")  # fmt: skip
    names = list(class_names) if class_names is not None else [""] * len(texts)
    cut = [text_pieces(text, characters=reads_characters(text, split)) for text in texts]
    variants: list[str] = [str(text) for text in texts]
    owners: list[tuple[int, int]] = []  # (text, piece) of each variant after the originals
    for number, pieces in enumerate(cut):
        units = [position for position, piece in enumerate(pieces) if _is_unit(piece)][:max_units]
        for position in units:
            variants.append("".join(pieces[:position] + pieces[position + 1 :]))
            owners.append((number, position))
    probabilities = np.asarray(predict(variants), dtype="float64") if variants else np.zeros((0, 0))
    full = [float(probabilities[number, class_indices[number]]) for number in range(len(texts))]
    pushes: list[list[float | None]] = [[None] * len(pieces) for pieces in cut]
    for row, (number, position) in enumerate(owners, start=len(texts)):
        pushes[number][position] = round(full[number] - float(probabilities[row, class_indices[number]]), 6)
    return [
        TextPushes(tuple(pieces), tuple(values), full[number], names[number])
        for number, (pieces, values) in enumerate(zip(cut, pushes, strict=True))
    ]


def run_heat_map(run_dir: Path, pixel_row: int, class_name: str, *, timeout: float = TIMEOUT_S) -> HeatMap:
    """The occlusion heat map of one of an image run's images (its row in the run's pixels) for `class_name`,
    computed through the run's model in a child process.

    Raises:
        AppError: the run has no model or the class is unknown, the child failed or took longer than `timeout`.
    """
    answer = _ask_child({"action": "image", "run_dir": str(run_dir), "pixel_row": int(pixel_row),
                         "class_name": str(class_name)}, timeout=timeout)  # fmt: skip
    return HeatMap.from_dict(answer)


def run_word_pushes(
    run_dir: Path, texts: Sequence[str], class_names: Sequence[str], *, timeout: float = TIMEOUT_S
) -> list[TextPushes]:
    """`word_pushes` of a text run's texts (each toward its own class), through the run's `model.keras` on the raw
    strings, in one child process.

    Raises:
        AppError: the run has no model or a class is unknown, the child failed or took longer than `timeout`.
    """
    request = {"action": "text", "run_dir": str(run_dir), "texts": [str(text) for text in texts],
               "class_names": [str(name) for name in class_names]}  # fmt: skip
    return [TextPushes.from_dict(item) for item in _ask_child(request, timeout=timeout)["texts"]]


def _ask_child(request: dict, *, timeout: float):
    limit = memory_limit_mb()
    result = run_module(
        "core.evaluation.occlusion",
        stdin=json.dumps(request, ensure_ascii=False),
        timeout=timeout,
        timeout_message=t("evaluate.kinds.timeout", seconds=f"{timeout:.0f}"),
        env={"LAYERLAB_PREDICT_MEMORY_MB": str(limit), LANGUAGE_ENV: get_language()},
    )
    lines = (result.stdout or "").strip().splitlines()
    if result.returncode != 0 or not lines:
        raise child_error(result, action=t("evaluate.kinds.action"), memory_limit_mb=limit)
    return json.loads(lines[-1])


def _class_index(files: RunFiles, class_name: str) -> tuple[TargetInfo, int]:
    stored = files.target()
    if not stored:
        raise AppError(t("evaluate.kinds.no_model"))
    target = TargetInfo.from_dict(stored)
    if class_name not in target.classes:
        raise AppError(t("evaluate.kinds.unknown_class", name=repr(class_name)))
    return target, target.classes.index(class_name)


def _model(files: RunFiles):
    path = files.model_file()
    if path is None:
        raise AppError(t("evaluate.kinds.no_model"))
    return load_model_file(path)


def heat_map_of_run(run_dir: Path, pixel_row: int, class_name: str) -> HeatMap:
    """`occlusion_map` of one image of an image run (its row in the run's pixels), through the run's `model.keras`
    (raw uint8 images in), or its bare `network.keras` where no downloadable model was written. Needs Keras: the
    child process's work (`run_heat_map` starts it)."""
    import keras  # Keras loads only in workers and helpers, never in the web server

    files = RunFiles(Path(run_dir))
    target, index = _class_index(files, class_name)
    pixels = np.load(files.path(RunFiles.PIXELS), mmap_mode="r")
    image = np.asarray(pixels[int(pixel_row)])
    if files.model_file() is not None:
        model = _model(files)

        def predict(images: np.ndarray) -> np.ndarray:
            # training=False: dropout off, as in every prediction (the map must start from the same probability).
            return keras.ops.convert_to_numpy(model({"image": images}, training=False)["probabilities"])

    elif files.exists(RunFiles.NETWORK):  # a run trained under another backend keeps only its bare network
        network = keras.saving.load_model(files.path(RunFiles.NETWORK), safe_mode=True, compile=False)
        side = int(network.input_shape[1])

        def predict(images: np.ndarray) -> np.ndarray:
            pixels = keras.ops.image.resize(images.astype("float32"), (side, side), interpolation="bilinear")
            return probabilities_from_output(keras.ops.convert_to_numpy(network(pixels, training=False)), target)

    else:
        raise AppError(t("evaluate.kinds.no_model"))
    return occlusion_map(predict, image, index, class_name=class_name)


def word_pushes_of_run(run_dir: Path, texts: Sequence[str], class_names: Sequence[str]) -> list[TextPushes]:
    """`word_pushes` of texts through a text run's `model.keras` on the raw strings (all variants batched). Needs
    Keras and TensorFlow: the child process's work (`run_word_pushes` starts it)."""
    import keras  # Keras loads only in workers and helpers, never in the web server
    import tensorflow as tf  # string inputs: TextVectorization runs on TensorFlow's string ops

    files = RunFiles(Path(run_dir))
    indices = [_class_index(files, name)[1] for name in class_names]
    model = _model(files)
    record = json.loads(files.preprocessing_text() or "{}")
    column = record.get("column") or next(iter(model.input))
    split = record.get("settings", {}).get("split")
    # A model that also reads other columns gets them as missing values (filled as in training): the pushes
    # are then the words' own, the same for every row.
    others = {name: tensor for name, tensor in model.input.items() if name != column}

    def blank(tensor, rows: int):
        if "string" in str(tensor.dtype):
            return tf.constant([[""]] * rows)
        return np.full((rows, 1), np.nan, dtype=keras.backend.standardize_dtype(tensor.dtype))

    def predict(variants: list[str]) -> np.ndarray:
        blocks = []
        for start in range(0, len(variants), BATCH):
            chunk = variants[start : start + BATCH]
            inputs = {column: tf.constant([[text] for text in chunk])}
            inputs |= {name: blank(tensor, len(chunk)) for name, tensor in others.items()}
            blocks.append(keras.ops.convert_to_numpy(model(inputs, training=False)["probabilities"]))
        return np.concatenate(blocks) if blocks else np.zeros((0, 0))

    return word_pushes(predict, texts, indices, class_names=class_names, split=split)


def _limit_memory(megabytes: int) -> None:
    import resource  # Unix only, and only in the child

    limit = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _main() -> int:
    """Child process: one JSON request on standard input, the JSON answer on the last line of standard output."""
    _limit_memory(memory_limit_mb())
    try:
        request = json.loads(sys.stdin.read())
        if request.get("action") == "image":
            answer = heat_map_of_run(request["run_dir"], request["pixel_row"], request["class_name"]).to_dict()
        else:
            pushes = word_pushes_of_run(request["run_dir"], request["texts"], request["class_names"])
            answer = {"texts": [item.to_dict() for item in pushes]}
    except AppError as error:
        print(f"layerlab: {error.message}", file=sys.stderr)
        write_failure_file(user_error(error.message, detail=type(error).__name__))
        return 2
    except (MemoryError, ImportError) as error:  # ImportError: TensorFlow could not map its libraries
        detail = f"{type(error).__name__}: {str(error)[:200]}"
        print(f"layerlab: out of memory ({detail})", file=sys.stderr)
        write_failure_file(Failure(OUT_OF_MEMORY, "app.out_of_memory", {"action": "", "limit": "", "advice": ""},
                                   detail))  # fmt: skip
        return 3
    print(json.dumps(answer, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
