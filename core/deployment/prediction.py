"""Predictions for new rows from a trained run or an uploaded model, computed in a separate process.

The web server never imports Keras (see docs/ARCHITECTURE.md): `predict_rows` hands the rows to
`layerlab predict` in a child process (`python -m core.deployment.prediction`) with a time limit and a memory limit
(RLIMIT_AS, `LAYERLAB_PREDICT_MEMORY_MB`, default 8192: TensorFlow alone reserves about 3.5 GB of address
space), so a huge or broken model cannot take the server down with it. `predict_uploaded` first checks an
uploaded `.keras` file without building it (`core.deployment.upload_check`), then predicts the same way.

`predict_run_rows` serves the models our own training wrote: it asks the warm helper process (`core.runtime.helper`,
Keras imported, the model kept loaded), so a click costs milliseconds instead of a Python start-up. Uploaded
files never go there.

`predict_image_files` takes uploaded images (single files, zips of them, a camera photo) for an image model, run's
or uploaded: the untrusted image bytes are decoded only in the same limited child, where each file that cannot
be read becomes a sentence of its own while the others are predicted, with a small thumbnail for the page.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from core.config import load_settings
from core.data.images import IMAGE_EXTENSIONS, load_image, read_image_zip, to_array
from core.data.preprocessing import PreprocessingState
from core.data.reading import TableLimits, load_table_file
from core.deployment.serving_model import load_model_file, predict_table  # Keras: never in the web server
from core.deployment.upload_check import MAX_MODEL_BYTES, CheckedModel, check_model_file
from core.errors import AppError, DataError, ModelFileError
from core.failures import OUT_OF_MEMORY, Failure, user_error, write_failure_file
from core.i18n import LANGUAGE_ENV, get_language, t
from core.plain_text import escape_formulas
from core.run_store import to_parquet
from core.runtime.child import child_error, run_module
from core.runtime.devices import import_keras_quietly
from core.runtime.helper import attach_predictions, encode_rows, warm_helper

PREDICT_TIMEOUT_S = 300
MEMORY_LIMIT_MB_DEFAULT = 8192
EXIT_OUT_OF_MEMORY = 3
INLINE_ROWS = 10_000  # up to this many rows go to the warm helper inside the JSON request, not as files
THUMBNAIL_SIDE = 64  # pixels: the Predict page's results table shows each image this small
SHOWN_ROWS = 500  # the Predict page shows this many rows of results; only they get a thumbnail
UPLOAD_SUFFIXES = (*sorted(IMAGE_EXTENSIONS), ".zip")  # what an image model's uploader takes


def column_report(state: PreprocessingState, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(missing, extra): input columns the model needs that the table lacks, and columns it will ignore."""
    return columns_report([column.name for column in state.columns], frame)


def input_columns(record: dict) -> list[str]:
    """The raw columns a run's model reads, from its preprocessing.json (as a dict): a table's columns, or a text
    run's other columns and then its text column."""
    if record.get("kind") == "text":
        return [column["name"] for column in (record.get("table") or {}).get("columns", [])] + [record["column"]]
    return [column["name"] for column in record.get("columns", [])]


def columns_report(needed: list[str], frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(missing, extra) for a model that reads the columns `needed` (a text model: its one text column)."""
    missing = [name for name in needed if name not in frame.columns]
    extra = [str(name) for name in frame.columns if name not in needed]
    return missing, extra


def memory_limit_mb() -> int:
    raw = os.environ.get("LAYERLAB_PREDICT_MEMORY_MB", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MEMORY_LIMIT_MB_DEFAULT


def predict_rows(
    model_path: Path, frame: pd.DataFrame, *, timeout: float = PREDICT_TIMEOUT_S, check: bool = False
) -> pd.DataFrame:
    """The rows plus `prediction` (and `prob_<class>` columns), from the model file, in a child process.

    `check=True` (uploaded files): the child checks the file again (`core.deployment.upload_check`) before loading it.
    """
    with tempfile.TemporaryDirectory(prefix="layerlab-predict-") as folder:
        rows, out = Path(folder) / "rows.parquet", Path(folder) / "predicted.parquet"
        rows.write_bytes(to_parquet(frame)[0])
        limit = memory_limit_mb()
        result = run_module(
            "core.deployment.prediction",
            [str(model_path), str(rows), str(out)] + (["--check"] if check else []),
            timeout=timeout,
            timeout_message=t("deploy.prediction.timeout", seconds=f"{timeout:.0f}"),
            env={"LAYERLAB_PREDICT_MEMORY_MB": str(limit), LANGUAGE_ENV: get_language()},  # its messages too
        )
        if result.returncode != 0 or not out.exists():
            error = child_error(
                result,
                action=t("deploy.prediction.action"),
                memory_limit_mb=limit,
                memory_advice=t("deploy.prediction.memory_advice_file"),
            )
            # Exit code 2: the child's model check refused the file, which is the user's to fix.
            raise DataError(error.message) if result.returncode == 2 else error
        return pd.read_parquet(out)


def predict_run_rows(model_path: Path, frame: pd.DataFrame, *, timeout: float = PREDICT_TIMEOUT_S) -> pd.DataFrame:
    """The rows plus `prediction` (and `prob_<class>` columns), from a run's own model, in the warm helper.

    Only for models LayerLab trained (`RunStore.model_path`): an uploaded file goes through `predict_uploaded`.
    """

    def ask(request: dict) -> dict:
        return warm_helper().request(
            {"action": "predict", "model_path": str(model_path), **request},
            action=t("deploy.prediction.action"),
            timeout=timeout,
            timeout_message=t("deploy.prediction.timeout", seconds=f"{timeout:.0f}"),
            memory_advice=t("deploy.prediction.memory_advice_helper"),
        )

    if len(frame) <= INLINE_ROWS:  # a click's few rows travel in the request line itself
        return attach_predictions(frame, ask({"rows_inline": encode_rows(frame)})["predicted"])
    with tempfile.TemporaryDirectory(prefix="layerlab-predict-") as folder:
        rows, out = Path(folder) / "rows.parquet", Path(folder) / "predicted.parquet"
        rows.write_bytes(to_parquet(frame)[0])
        ask({"rows": str(rows), "out": str(out)})
        return pd.read_parquet(out)


def check_uploaded(data: bytes, name: str) -> CheckedModel:
    """`core.deployment.upload_check.check_model_file` on an upload's bytes (nothing is built)."""
    with tempfile.TemporaryDirectory(prefix="layerlab-model-") as folder:
        return check_model_file(_stage(data, folder), name=name)


def predict_uploaded(
    data: bytes, name: str, frame: pd.DataFrame, *, timeout: float = PREDICT_TIMEOUT_S
) -> tuple[CheckedModel, pd.DataFrame]:
    """Check an uploaded `.keras` file without building it, then predict in the limited child process.

    Raises:
        ModelFileError: the file is not a LayerLab model (or is too big, or carries code).
        DataError: the rows lack columns the model needs.
    """
    with tempfile.TemporaryDirectory(prefix="layerlab-model-") as folder:
        path = _stage(data, folder)
        checked = check_model_file(path, name=name)
        needed = [column.name for column in checked.inputs]
        missing = [column for column in needed if column not in frame.columns]
        if missing:
            separator = t("deploy.list_separator")
            raise DataError(
                t(
                    "deploy.prediction.missing_columns",
                    missing=separator.join(map(repr, missing)),
                    needed=separator.join(map(repr, needed)),
                )
            )
        return checked, predict_rows(path, frame, timeout=timeout, check=True)


@dataclass(frozen=True, slots=True)
class ImagePredictions:
    """Predictions for uploaded images: `table` has one row per image that could be read ("file", "prediction",
    "prob_<class>" and "thumbnail", a small PNG as a data URL), in upload order; `problems` is (file name,
    sentence) for each file that could not be used, and why."""

    table: pd.DataFrame
    problems: tuple[tuple[str, str], ...]

    def download(self) -> pd.DataFrame:
        """The table as the CSV download has it: without the thumbnails, formulas escaped."""
        return escape_formulas(self.table.drop(columns=["thumbnail"], errors="ignore"))


def predict_image_files(
    model_path: Path, files: list[tuple[str, bytes]], *, timeout: float = PREDICT_TIMEOUT_S, check: bool = False
) -> ImagePredictions:
    """Uploaded image files (PNG, JPEG…, or zips of them), as (file name, bytes), through an image model in the
    memory-limited child process. A file that cannot be read is a problem of its own; the others are predicted.

    `check=True` (uploaded model files): the child checks the model file again before loading it.

    Raises:
        DataError: the model file was refused by the check, or it does not take images.
        AppError: the child ran out of time or memory, or crashed.
    """
    with tempfile.TemporaryDirectory(prefix="layerlab-images-") as folder:
        folder = Path(folder)
        entries = []
        for position, (name, data) in enumerate(files):
            suffix = Path(name).suffix.lower()
            # The user's file name is only shown, never used as a path.
            path = folder / f"upload_{position:05d}{suffix if suffix in UPLOAD_SUFFIXES else '.bin'}"
            path.write_bytes(data)
            entries.append({"name": name, "path": str(path)})
        manifest, out = folder / "uploads.json", folder / "out"
        manifest.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
        out.mkdir()
        limit = memory_limit_mb()
        result = run_module(
            "core.deployment.prediction",
            ["--images", str(model_path), str(manifest), str(out)] + (["--check"] if check else []),
            timeout=timeout,
            timeout_message=t("deploy.prediction.timeout", seconds=f"{timeout:.0f}"),
            env={"LAYERLAB_PREDICT_MEMORY_MB": str(limit), LANGUAGE_ENV: get_language()},
        )
        table, problems = out / "predicted.parquet", out / "problems.json"
        if result.returncode != 0 or not table.exists():
            error = child_error(
                result,
                action=t("deploy.prediction.action"),
                memory_limit_mb=limit,
                memory_advice=t("deploy.kinds.predict.memory_advice_images"),
            )
            raise DataError(error.message) if result.returncode == 2 else error
        found = json.loads(problems.read_text(encoding="utf-8"))
        return ImagePredictions(pd.read_parquet(table), tuple((name, sentence) for name, sentence in found))


def predict_uploaded_images(
    data: bytes, name: str, files: list[tuple[str, bytes]], *, timeout: float = PREDICT_TIMEOUT_S
) -> ImagePredictions:
    """`predict_image_files` for an uploaded `.keras` file: checked without building it first.

    Raises:
        ModelFileError: the file is not a LayerLab model (or is too big, or carries code).
        DataError: the model does not take images.
    """
    with tempfile.TemporaryDirectory(prefix="layerlab-model-") as folder:
        path = _stage(data, folder)
        if not takes_images(check_model_file(path, name=name)):
            raise DataError(t("deploy.kinds.predict.not_an_image_model", name=repr(name)))
        return predict_image_files(path, files, timeout=timeout, check=True)


def _stage(data: bytes, folder: str) -> Path:
    """The upload on disk under a fixed `.keras` name (the user's file name is only shown, never used as a path)."""
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFileError(
            t("deploy.prediction.too_big", size=f"{len(data) / 2**20:,.0f}", limit=f"{MAX_MODEL_BYTES / 2**20:,.0f}")
        )
    path = Path(folder) / "uploaded.keras"
    path.write_bytes(data)
    return path


def predict_file(model_path: Path, data: str, out: str | None) -> None:
    """`layerlab predict`: a table file in, the same rows with predictions out (CSV, Parquet, or standard output).

    The model file is checked (extension, archive, allowed layers, size) before Keras is imported: a wrong file
    is refused in a moment instead of after half a minute and a gigabyte.
    """
    checked = check_model_file(model_path)
    if takes_images(checked):
        import_keras_quietly()
        result = predict_image_file(load_model_file(model_path), Path(data))
    else:
        frame = load_table_file(data, limits=TableLimits.from_settings(load_settings())).frame
        import_keras_quietly()
        result = predict_table(load_model_file(model_path), frame)
    if out and out.endswith(".parquet"):
        result.to_parquet(out, index=False)
        print(json.dumps({"rows": len(result), "out": str(Path(out).resolve())}))
    elif out:
        # With a byte order mark, so Excel opens Chinese (any non-ASCII) class and column names correctly.
        escape_formulas(result).to_csv(out, index=False, encoding="utf-8-sig")
        print(json.dumps({"rows": len(result), "out": str(Path(out).resolve())}))
    else:
        escape_formulas(result).to_csv(sys.stdout, index=False)  # often redirected into a file for a spreadsheet


def takes_images(checked: CheckedModel) -> bool:
    """An image model (kind images): one input named "image" of raw uint8 pixels."""
    return [(item.name, item.dtype) for item in checked.inputs] == [("image", "uint8")]


def predict_image_file(model, path: Path, *, labelled: bool = False) -> pd.DataFrame:
    """One image file, or a zip of images (in class folders or not), through an image model: a row per image
    with its file name, the predicted class and each class's probability. `labelled` (a zip of class folders
    to score the model on): an "actual" column holds each image's folder, and images outside one are left out."""
    side = int(model.get_layer("resize").get_config()["height"])
    channels = int(model.input["image"].shape[-1])
    if path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="layerlab-predict-") as folder:
            image_set = read_image_zip(path, Path(folder) / "pixels.npy", side=side, unlabelled=not labelled)
            names = image_set.manifest["file"].astype(str).tolist()
            arrays = np.load(image_set.pixels_path, mmap_mode="r")
            result = _image_predictions(model, names, arrays, channels)
            if labelled:
                result.insert(1, "actual", image_set.manifest["label"].astype(str).to_numpy())
            return result
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DataError(t("deploy.predict.not_an_image", name=repr(path.name)))
    image = load_image(path.read_bytes())
    array = to_array(image, side=side, channels=channels)[None]
    return _image_predictions(model, [path.name], array, channels)


def predict_image_uploads(model, entries: list[dict], folder: Path) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The child's side of `predict_image_files`: each entry ({"name", "path"}) is one image or a zip of them.

    Returns the predictions (with "thumbnail" data URLs, in upload order, a zip's images in its order) and
    (file name, sentence) for every file, or member of a zip, that could not be used.
    """
    side = int(model.get_layer("resize").get_config()["height"])
    channels = int(model.input["image"].shape[-1])
    problems: list[tuple[str, str]] = []
    parts: list[pd.DataFrame] = []
    names: list[str] = []
    arrays: list[np.ndarray] = []
    thumbnails: list[str | None] = []
    made = 0

    def thumbnail(image: Image.Image | np.ndarray) -> str | None:
        nonlocal made
        made += 1
        if made > SHOWN_ROWS:
            return None
        return _thumbnail(image if isinstance(image, Image.Image) else Image.fromarray(_plain(image)))

    def flush() -> None:  # the single images so far, predicted in one batch
        if names:
            parts.append(
                _image_predictions(model, list(names), np.stack(arrays), channels).assign(thumbnail=thumbnails)
            )
            names.clear(), arrays.clear(), thumbnails.clear()

    for position, entry in enumerate(entries):
        name, path = str(entry["name"]), Path(entry["path"])
        suffix = Path(name).suffix.lower()
        if suffix == ".zip":
            flush()
            try:
                image_set = read_image_zip(path, folder / f"pixels_{position}.npy", side=side, unlabelled=True)
            except DataError as error:
                problems.append((name, error.message))
                continue
            problems += [(f"{name}/{skipped.name}", str(skipped.reason)) for skipped in image_set.skipped]
            pixels = np.load(image_set.pixels_path, mmap_mode="r")
            members = [f"{name}/{member}" for member in image_set.manifest["file"].astype(str)]
            shown = [thumbnail(image) for image in pixels]
            parts.append(_image_predictions(model, members, pixels, channels).assign(thumbnail=shown))
        elif suffix not in IMAGE_EXTENSIONS:
            problems.append((name, t("deploy.predict.not_an_image", name=repr(name))))
        else:
            try:
                image = load_image(path.read_bytes())
            except DataError as error:
                problems.append((name, error.message))
                continue
            names.append(name)
            arrays.append(to_array(image, side=side, channels=channels))
            thumbnails.append(thumbnail(image))
    flush()
    if not parts:
        return pd.DataFrame(columns=["file", "prediction", "thumbnail"]), problems
    return pd.concat(parts, ignore_index=True), problems


def _plain(image: np.ndarray) -> np.ndarray:
    """A (side, side, channels) array as Pillow takes it: grey images without their channel axis."""
    return image[..., 0] if image.shape[-1] == 1 else np.asarray(image)


def _thumbnail(image: Image.Image) -> str:
    """A small PNG of the image as a data URL (the results table shows it; nothing is written anywhere)."""
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_predictions(model, names: list[str], arrays, channels: int, *, batch: int = 256) -> pd.DataFrame:
    import keras  # Keras loads only in workers and helpers, never in the web server

    labels: list[str] = []
    probabilities = []
    for start in range(0, len(names), batch):
        block = np.asarray(arrays[start : start + batch])
        if block.shape[-1] != channels:  # grey images for a colour model, or colour ones for a grey model
            block = np.repeat(block, 3, axis=-1) if channels == 3 else _grey(block)
        # training=False: augmentation layers inside the network would otherwise transform the images at random.
        outputs = model({"image": block.astype("uint8")}, training=False)
        labels.extend(value.decode("utf-8") for value in keras.ops.convert_to_numpy(outputs["label"]).reshape(-1))
        probabilities.append(keras.ops.convert_to_numpy(outputs["probabilities"]))
    result = pd.DataFrame({"file": names, "prediction": labels})
    table = np.concatenate(probabilities) if probabilities else np.zeros((0, 0))
    for index, name in enumerate(model.get_layer("label_lookup").get_vocabulary()):
        result[f"prob_{name}"] = table[:, index]
    return result


def _grey(block: np.ndarray) -> np.ndarray:
    weights = np.array([0.299, 0.587, 0.114], dtype="float32")
    return np.clip(np.rint(block[..., :3].astype("float32") @ weights), 0, 255).astype("uint8")[..., None]


def _predict_uploads(model_path: Path, manifest: Path, out: Path) -> None:
    if not takes_images(check_model_file(model_path)):
        raise DataError(t("deploy.kinds.predict.not_an_image_model", name=repr(model_path.name)))
    import_keras_quietly()
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="layerlab-predict-") as folder:
        table, problems = predict_image_uploads(load_model_file(model_path), entries, Path(folder))
    (out / "problems.json").write_text(json.dumps(problems, ensure_ascii=False), encoding="utf-8")
    table.to_parquet(out / "predicted.parquet", index=False)


def _limit_memory(megabytes: int) -> None:
    import resource  # Unix only, and only in the child

    limit = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _main(argv: list[str]) -> int:
    """Child process: memory limit first, then (optionally) the check, then `layerlab predict` (or, after
    `--images`, the uploaded images of `predict_image_files`)."""
    images = argv[:1] == ["--images"]
    model, rows, out = argv[1:4] if images else argv[:3]
    _limit_memory(memory_limit_mb())
    try:
        if "--check" in argv[3:]:
            check_model_file(Path(model))
        if images:
            _predict_uploads(Path(model), Path(rows), Path(out))
        else:
            predict_file(Path(model), rows, out)
        return 0
    except AppError as error:
        print(f"layerlab: {error.message}", file=sys.stderr)
        write_failure_file(user_error(error.message, detail=type(error).__name__))
        return 2
    except (MemoryError, ImportError) as error:  # ImportError: TensorFlow could not map its libraries
        print(f"layerlab: out of memory ({type(error).__name__}: {str(error)[:200]})", file=sys.stderr)
        detail = f"{type(error).__name__}: {str(error)[:200]}"
        params = {"action": "Predicting", "limit": "", "advice": ""}  # the parent fills in its own wording
        write_failure_file(Failure(OUT_OF_MEMORY, "app.out_of_memory", params, detail))
        return EXIT_OUT_OF_MEMORY


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
