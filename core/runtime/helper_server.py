"""The warm helper's process (`python -m core.runtime.helper_server`): Keras imported once, run models cached.

`core.runtime.helper` is the client the server uses; this module is the other end of its pipe, and the only one of
the two that imports the page actions it serves (prediction, Measure speed, permutation importance).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from collections import OrderedDict
from pathlib import Path

import pandas  # noqa: F401
import pandas as pd

import core.deployment.serving_model  # noqa: F401
from core.deployment.serving_model import load_model_file, predict_table
from core.errors import AppError
from core.evaluation.importance import compute_importance
from core.i18n import Message, t
from core.model.preflight import _measure as measure
from core.run_store import RunFiles
from core.runtime.helper import HELPER_NICENESS, MODEL_CACHE_SIZE, decode_rows, encode_predictions
from core.runtime.lifetime import die_with_parent


class ModelCache:
    """The last `size` models loaded, by (resolved path, modification time): a saved threshold rewrites
    `model.keras`, and the new file must be loaded, never the old one served."""

    def __init__(self, size: int = MODEL_CACHE_SIZE):
        self.size = size
        self.num_loads = 0
        self._models: OrderedDict[tuple[str, int], object] = OrderedDict()

    def get(self, path: Path) -> tuple[object, bool]:
        """(model, whether it was loaded now)."""

        path = Path(path)
        try:
            key = (str(path.resolve()), path.stat().st_mtime_ns)
        except FileNotFoundError:
            error = AppError(t("train.runtime.model_file_gone", name=path.name))
            error.stored = Message("train.runtime.model_file_gone", {"name": path.name})
            raise error from None
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key], False
        for stale in [cached for cached in self._models if cached[0] == key[0]]:
            del self._models[stale]
        model = load_model_file(path)
        self.num_loads += 1
        self._models[key] = model
        while len(self._models) > self.size:
            self._models.popitem(last=False)
        return model, True


def _predict(request: dict, models: ModelCache, emit) -> dict:
    """Rows inline (`rows_inline`, answered with the prediction columns only) or, for large tables, as Parquet
    files (`rows`, `out`)."""

    model, loaded = models.get(Path(request["model_path"]))
    if "rows_inline" in request:
        frame = decode_rows(request["rows_inline"])
        predicted = encode_predictions(predict_table(model, frame), frame)
        return {"rows": len(frame), "loaded": loaded, "predicted": predicted}
    frame = pd.read_parquet(request["rows"])
    predict_table(model, frame).to_parquet(request["out"], index=False)
    return {"rows": len(frame), "loaded": loaded}


def _measure(request: dict, models: ModelCache, emit) -> dict:

    import keras  # Keras loads only in workers and helpers, never in the web server

    try:
        return {"measurement": measure(request["request"])}
    finally:
        # The measured network is thrown away; clearing the session keeps the helper's memory flat and
        # its layer names fresh for the next measurement. Loaded run models are unaffected.
        keras.backend.clear_session()
        gc.collect()


def _importance(request: dict, models: ModelCache, emit) -> dict:

    run_dir = Path(request["run_dir"])
    model, loaded = models.get(RunFiles(run_dir).path(RunFiles.MODEL))
    importance = compute_importance(run_dir, model, progress=lambda fraction, label: emit(fraction, label))
    return {"importance": importance.to_dict(), "loaded": loaded}


ACTIONS = {"predict": _predict, "measure": _measure, "importance": _importance, "ping": lambda *_: {}}


def _answer(request: dict, models: ModelCache, emit) -> dict:
    action = ACTIONS.get(request.get("action"))
    if action is None:
        return {"ok": False, "detail": f"unknown action {request.get('action')!r}"}
    try:
        answer = action(request, models, emit)
    except AppError as error:
        answer = {"ok": False, "error_type": type(error).__name__, "message": error.message}
        stored = getattr(error, "stored", None)
        if isinstance(stored, Message):  # the server renders it in the visitor's language
            answer["message_ref"] = stored.to_dict()
        return answer
    except MemoryError as error:
        return {"ok": False, "out_of_memory": True, "detail": f"MemoryError: {str(error)[:200]}"}
    except Exception:  # noqa: BLE001 - the client turns it into an incident; the helper lives on
        return {"ok": False, "detail": traceback.format_exc()}
    return {"ok": True, "num_loads": models.num_loads, "pid": os.getpid(), **answer}


def helper_main() -> None:
    """Entry point of the helper process (`python -m core.runtime.helper_server`)."""

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    die_with_parent()
    try:
        os.nice(HELPER_NICENESS)
    except OSError:
        pass
    # Standard output carries the protocol only: whatever a library prints goes to standard error.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    import keras  # noqa: F401 - the point of the helper: paid once, before the first click

    send({"ready": True, "pid": os.getpid()})
    models = ModelCache()
    for line in sys.stdin:  # ends when the server closes the pipe (or dies)
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            send({"ok": False, "detail": f"not a JSON request: {line[:200]!r}"})
            continue
        # Every line carries the request's id: a client interrupted mid-request skips what is left of it.
        number = request.get("id")

        def progress(fraction: float, label: str, number=number) -> None:
            send({"id": number, "progress": fraction, "label": label})

        send({**_answer(request, models, progress), "id": number})


if __name__ == "__main__":
    helper_main()
