"""Hyperparameter search: Optuna's TPE sampler proposes settings, each trial is a normal run submitted through
the same job queue (quotas and caps apply), and poor trials are pruned from their per-epoch validation loss.

A search lives in `<home>/searches/<id>/`: `search.json` (what to vary, the budget, the base spec, the table),
`state.json` (trial number → run id, time used, state) and `journal.log`, Optuna's journal storage, so a
server restart resumes the study: trials that were in flight are marked failed (their runs stopped) and asked
again, within what is left of the budget.

The objective is the best validation loss of a trial's run: test scores are never used to choose. A trial's
run is trained with its test rows held back (no test metrics, no baselines); when the search ends, the best
trial's run alone is scored on them (`score`), and the user may score another trial they choose from its
Evaluate page. The leaderboard shows validation scores only.
Optuna is imported inside functions: the web server imports this module to draw pages, and Optuna with its
SQLAlchemy stack costs about a second that a page without a search should not pay.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import AppError, QuotaError
from core.i18n import CatalogView, t
from core.run_store import FINAL_STATES, RunStore, read_json, write_json
from core.spec import DenseLayer, DropoutLayer, ModelSpec, RunSpec, TrainingSpec

_LOG = logging.getLogger(__name__)
SEARCH_FILE, STATE_FILE, JOURNAL_FILE = "search.json", "state.json", "journal.log"
POLL_S = 0.5
PRUNE_STARTUP_TRIALS, PRUNE_WARMUP_EPOCHS, PRUNE_PATIENCE = 4, 3, 2  # make_pruner
_ID_CHARS = "0123456789abcdef"
# The widest ranges a search may take (the page's sliders and the checks below).
LAYER_BOUNDS = (1, 8)
DROPOUT_BOUNDS = (0.0, 0.9)
LEARNING_RATE_BOUNDS = (1e-6, 1.0)
PERIODIC_SCALE_BOUNDS = (0.01, 100.0)  # within PreprocessingSpec.periodic_scale; Gorishniy et al. tune sigma there
PERIODIC_SCALES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # the Search page's slider
# What a trial varied, as the leaderboard names it (layers, units, dropout, learning_rate, ...).
PARAM_NAMES = CatalogView("experiments.search.param.")
# Optuna's trial states as the leaderboard names them.
_STATES = {"RUNNING": "running", "WAITING": "running", "COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}


class SearchError(AppError):
    """A search that cannot start or be read (a bad range, no budget, not found)."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchSpace(_Spec):
    """What the search varies (each `vary_*` a tick box) and within which bounds (inside the spec's own)."""

    vary_layers: bool = Field(default=True, description="Try different numbers of hidden Dense layers.")
    layers: tuple[int, int] = Field(default=(1, 3), description="Fewest and most hidden Dense layers.")
    vary_units: bool = Field(default=True, description="Try different numbers of neurons per layer.")
    units: tuple[int, int] = Field(default=(16, 256), description="Fewest and most neurons per layer.")
    vary_dropout: bool = Field(default=True, description="Try dropout after each hidden layer (0 means none).")
    dropout: tuple[float, float] = Field(default=(0.0, 0.5), description="Lowest and highest dropout rate.")
    vary_learning_rate: bool = Field(default=True, description="Try learning rates on a log scale.")
    learning_rate: tuple[float, float] = Field(default=(1e-4, 3e-2), description="Lowest and highest rate.")
    vary_batch_size: bool = Field(default=False, description="Try these batch sizes.")
    batch_sizes: tuple[int, ...] = Field(default=(32, 64, 128), description="Batch sizes to try.")
    vary_optimizer: bool = Field(default=False, description="Try these optimizers.")
    optimizers: tuple[str, ...] = Field(default=("adam", "adamw", "rmsprop"), description="Optimizers to try.")
    vary_class_weight: bool = Field(default=False, description="Try with and without balanced class weights.")
    vary_numeric_embedding: bool = Field(
        default=True,
        description="Try the number columns of a table with and without periodic features "
        "(`PreprocessingSpec.numeric_embedding`) and, with them, different spreads of their starting frequencies.",
    )
    periodic_scale: tuple[float, float] = Field(
        default=(0.1, 100.0),
        description="Smallest and largest spread of the periodic features' starting frequencies, tried on a log "
        "scale (`PreprocessingSpec.periodic_scale`).",
    )

    @model_validator(mode="after")
    def _within_the_spec_bounds(self) -> SearchSpace:
        checks = (
            ("layers", self.layers, *LAYER_BOUNDS),
            ("units", self.units, _bound(DenseLayer, "units", "ge"), _bound(DenseLayer, "units", "le")),
            ("dropout", self.dropout, *DROPOUT_BOUNDS),
            ("learning_rate", self.learning_rate, *LEARNING_RATE_BOUNDS),
            ("periodic_scale", self.periodic_scale, *PERIODIC_SCALE_BOUNDS),
        )
        for name, (low, high), floor, ceiling in checks:
            if not floor <= low <= high <= ceiling:
                raise ValueError(t("experiments.search.bad_range", name=name, low=low, high=high, floor=floor,
                                   ceiling=ceiling))  # fmt: skip
        for size in self.batch_sizes:
            if not _bound(TrainingSpec, "batch_size", "ge") <= size <= _bound(TrainingSpec, "batch_size", "le"):
                raise ValueError(t("experiments.search.bad_batch", size=size))
        allowed = TrainingSpec.model_fields["optimizer"].annotation.__args__
        for name in self.optimizers:
            if name not in allowed:
                raise ValueError(t("experiments.search.bad_optimizer", name=name, allowed=", ".join(allowed)))
        return self


def _bound(model: type[BaseModel], field: str, kind: str):
    for item in model.model_fields[field].metadata:
        value = getattr(item, kind, None)
        if value is not None:
            return value
    raise KeyError(f"{model.__name__}.{field} has no {kind} bound")


class SearchBudget(_Spec):
    trials: int | None = Field(default=10, ge=1, le=500, description="Trials to finish (pruned ones count).")
    minutes: float | None = Field(default=None, gt=0, le=24 * 60, description="Minutes the search may run.")
    parallel: int = Field(default=1, ge=1, le=16, description="Trials that train at once.")
    seed: int = Field(default=0, ge=0, description="Seed of the sampler: the same search proposes the same trials.")

    @model_validator(mode="after")
    def _some_budget(self) -> SearchBudget:
        if self.trials is None and self.minutes is None:
            raise ValueError(t("experiments.search.no_budget"))
        return self


class SearchSpec(_Spec):
    base: RunSpec
    space: SearchSpace = SearchSpace()
    budget: SearchBudget = SearchBudget()


def trial_spec(base: RunSpec, space: SearchSpace, params: dict) -> RunSpec:
    """The run a trial trains: the base spec with the trial's settings (a table's hidden stack rebuilt as
    Dense layers with optional Dropout; images and text keep their layers and vary the training only)."""
    model = base.model
    if base.data.kind == "table" and (space.vary_layers or space.vary_units or space.vary_dropout):
        template = next((layer for layer in base.model.layers if isinstance(layer, DenseLayer)), DenseLayer())
        count = params.get("layers", sum(isinstance(layer, DenseLayer) for layer in base.model.layers) or 1)
        units = params.get("units", template.units)
        rate = params.get("dropout", 0.0)
        layers = []
        for index in range(count):
            layers.append(template.model_copy(update={"units": max(1, int(units) >> min(index, 2))}))
            if rate > 0:
                layers.append(DropoutLayer(rate=round(rate, 3)))
        model = ModelSpec.model_validate({**base.model.model_dump(), "layers": [x.model_dump() for x in layers]})
    training = base.training.model_dump()
    for name in ("learning_rate", "batch_size", "optimizer", "class_weight"):
        if name in params:
            training[name] = params[name]
    preprocessing = base.preprocessing.model_dump()
    for name in ("numeric_embedding", "periodic_scale"):
        if name in params:
            preprocessing[name] = params[name]
    return RunSpec.model_validate(
        {
            **base.model_dump(),
            "preprocessing": preprocessing,
            "model": model.model_dump(),
            "training": TrainingSpec(**training).model_dump(),
        }
    )


def suggest(trial, space: SearchSpace, base: RunSpec) -> dict:
    """Ask an Optuna trial for the settings the space varies."""
    params = {}
    table = base.data.kind == "table"
    if table and space.vary_layers:
        params["layers"] = trial.suggest_int("layers", *space.layers)
    if table and space.vary_units:
        params["units"] = trial.suggest_int("units", *space.units, log=True)
    if table and space.vary_dropout:
        params["dropout"] = trial.suggest_float("dropout", *space.dropout)
    if space.vary_learning_rate:
        params["learning_rate"] = trial.suggest_float("learning_rate", *space.learning_rate, log=True)
    if space.vary_batch_size:
        params["batch_size"] = trial.suggest_categorical("batch_size", list(space.batch_sizes))
    if space.vary_optimizer:
        params["optimizer"] = trial.suggest_categorical("optimizer", list(space.optimizers))
    if space.vary_class_weight and base.data.task != "regression":
        params["class_weight"] = trial.suggest_categorical("class_weight", ["none", "balanced"])
    if table and space.vary_numeric_embedding:
        params["numeric_embedding"] = trial.suggest_categorical("numeric_embedding", ["none", "periodic"])
        if params["numeric_embedding"] == "periodic":
            # The spread decides what periodic features can see (on Adult, 0.1 -> 30 moved one network's test
            # accuracy from 0.864 to 0.871: docs/PERFORMANCE.md), so it is tuned with them, as Gorishniy et al.
            # tune sigma; a conditional parameter, asked only of the trials that use periodic features.
            params["periodic_scale"] = trial.suggest_float("periodic_scale", *space.periodic_scale, log=True)
    return params


def best_validation(history: list[dict]) -> tuple[float | None, float | None, int | None]:
    """(lowest validation loss, the validation metric at that epoch, that epoch) of a run's history."""
    best = None
    for row in history:
        loss = row.get("val_loss")
        if loss is not None and math.isfinite(loss) and (best is None or loss < best.get("val_loss")):
            best = row
    if best is None:
        return None, None, None
    return best["val_loss"], best.get("val_metric"), best["epoch"]


@dataclass(frozen=True, slots=True)
class TrialRow:
    number: int
    run_id: str | None
    params: dict
    state: str  # running, complete, pruned, failed
    val_loss: float | None
    val_metric: float | None
    epoch: int | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class SearchView:
    search_id: str
    state: str  # running, finished, stopped
    spec: SearchSpec
    trials: list[TrialRow]
    best: TrialRow | None
    elapsed_s: float
    created_at: float
    source_name: str

    def leaderboard(self) -> list[TrialRow]:
        """Finished trials best first, then the ones still training, then pruned and failed."""
        order = {"complete": 0, "running": 1, "pruned": 2, "failed": 3}
        return sorted(
            self.trials,
            key=lambda r: (order.get(r.state, 4), math.inf if r.val_loss is None else r.val_loss, r.number),
        )

    def best_over_time(self) -> list[tuple[int, float]]:
        """(trial number, best validation loss so far) as trials completed."""
        best, points = math.inf, []
        for row in sorted(self.trials, key=lambda r: r.number):
            if row.state == "complete" and row.val_loss is not None:
                best = min(best, row.val_loss)
                points.append((row.number, best))
        return points


class SearchStore:
    """Searches on disk under `root` (`<home>/searches`); an owner's store sees only that owner's searches."""

    def __init__(self, root: Path, *, owner: str | None = None):
        self.root = Path(root)
        self.owner = owner
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, search_id: str) -> Path:
        if len(search_id) != 20 or any(c not in _ID_CHARS for c in search_id):
            raise SearchError(t("experiments.search.not_found"))
        folder = self.root / search_id
        meta = read_json(folder / SEARCH_FILE)
        if meta is None or (self.owner is not None and meta.get("owner") != self.owner):
            raise SearchError(t("experiments.search.not_found"))
        return folder

    def create(self, spec: SearchSpec, table: Path, *, source_name: str, reading: dict | None = None,
               pixels: Path | None = None) -> str:  # fmt: skip
        search_id = secrets.token_hex(10)
        folder = self.root / search_id
        folder.mkdir()
        write_json(folder / STATE_FILE, {"state": "running", "trials": {}, "elapsed_s": 0.0})
        write_json(folder / SEARCH_FILE, {
            "search_id": search_id, "owner": self.owner, "created_at": time.time(), "source_name": source_name,
            "table": str(table), "reading": reading, "pixels": None if pixels is None else str(pixels),
            "spec": spec.model_dump(mode="json"),
        })  # fmt: skip
        return search_id

    def list_ids(self) -> list[str]:
        found = []
        for folder in sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
            meta = read_json(folder / SEARCH_FILE)
            if meta is not None and (self.owner is None or meta.get("owner") == self.owner):
                found.append(folder.name)
        return found

    def meta(self, search_id: str) -> dict:
        return read_json(self.folder(search_id) / SEARCH_FILE)

    def state(self, search_id: str) -> dict:
        return read_json(self.folder(search_id) / STATE_FILE, default={}) or {}

    def write_state(self, search_id: str, state: dict) -> None:
        write_json(self.folder(search_id) / STATE_FILE, state)

    def request_stop(self, search_id: str) -> None:
        state = self.state(search_id)
        state["stopping"] = True
        self.write_state(search_id, state)

    def study(self, search_id: str):
        import optuna  # a search's own process work: see the module docstring

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        folder = self.folder(search_id)
        spec = SearchSpec.model_validate(self.meta(search_id)["spec"])
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL_FILE)))
        return optuna.create_study(
            study_name=search_id,
            storage=storage,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=spec.budget.seed, n_startup_trials=4),
            pruner=make_pruner(),
            load_if_exists=True,
        )

    def view(self, search_id: str, runs: RunStore) -> SearchView:
        """The search as its page and the command line show it (reads the study's journal)."""
        meta = self.meta(search_id)
        state = self.state(search_id)
        spec = SearchSpec.model_validate(meta["spec"])
        trial_runs = {int(k): v for k, v in (state.get("trials") or {}).items()}
        rows = []
        for frozen in self.study(search_id).get_trials(deepcopy=False):
            run_id = trial_runs.get(frozen.number)
            val_loss = val_metric = epoch = None
            if run_id is not None:
                try:
                    val_loss, val_metric, epoch = best_validation(runs.history(run_id))
                except AppError:
                    run_id = None  # deleted since
            rows.append(TrialRow(
                number=frozen.number, run_id=run_id, params=dict(frozen.params), state=_STATES[frozen.state.name],
                val_loss=val_loss, val_metric=val_metric, epoch=epoch,
                finished_at=frozen.datetime_complete.timestamp() if frozen.datetime_complete else None,
            ))  # fmt: skip
        complete = [row for row in rows if row.state == "complete" and row.val_loss is not None]
        best = min(complete, key=lambda row: row.val_loss) if complete else None
        return SearchView(
            search_id=search_id, state=state.get("state", "running"), spec=spec, trials=rows, best=best,
            elapsed_s=float(state.get("elapsed_s") or 0.0), created_at=meta.get("created_at", 0.0),
            source_name=meta.get("source_name", ""),
        )  # fmt: skip

    def importances(self, search_id: str) -> dict[str, float]:
        """Which settings mattered (Optuna's fANOVA importances); empty before two trials completed."""
        import optuna  # lazy: the web server draws pages without a search (module docstring)

        study = self.study(search_id)
        complete = [trial for trial in study.get_trials(deepcopy=False) if trial.state.name == "COMPLETE"]
        if len(complete) < 2 or not any(trial.params for trial in complete):
            return {}
        try:
            return dict(optuna.importance.get_param_importances(study))
        except (RuntimeError, ValueError):
            return {}  # e.g. every completed trial used the same settings


Submit = Callable[[RunSpec], str]  # creates and queues a trial's run (the job manager's start: quotas, caps apply)
Score = Callable[[str], None]  # queues the chosen trial's run to be scored on its held-back test rows


def make_pruner():
    """Prune a trial whose validation loss is worse than the median of earlier trials at the same epoch, and has
    not improved for `PRUNE_PATIENCE` epochs.

    The patience matters: a bare median rule at epoch 2 prunes the slow starters (a low learning rate, periodic
    features), which are often the best at the end. On Adult it pruned 45 of 48 trials and the search stayed
    1.2 points below gradient boosting (docs/PERFORMANCE.md); a trial that still improves is never pruned now.
    """
    import optuna  # a search's own process work: see the module docstring

    median = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP_TRIALS, n_warmup_steps=PRUNE_WARMUP_EPOCHS)
    with warnings.catch_warnings():  # "experimental since 2.8" (Optuna 4.9 still says so); pinned by test_search
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.pruners.PatientPruner(median, patience=PRUNE_PATIENCE)


class SearchRunner:
    """Drives one search until its budget is spent or it is stopped: asks trials, submits their runs, reports
    each epoch's validation loss and stops pruned runs, tells Optuna the result. One thread per search."""

    def __init__(self, searches: SearchStore, search_id: str, runs: RunStore, submit: Submit,
                 can_submit: Callable[[], bool] | None = None, score: Score | None = None):  # fmt: skip
        self.searches, self.search_id, self.runs, self.submit = searches, search_id, runs, submit
        self.score = score  # at the end, the best trial (on validation) is scored on the test rows, and only it
        self.can_submit = can_submit  # False while the owner's queue is full: trials wait instead of failing
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> SearchRunner:
        self._thread = threading.Thread(target=self._guarded, daemon=True, name=f"layerlab-search-{self.search_id}")
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _guarded(self) -> None:
        try:
            self.run()
        except Exception:  # noqa: BLE001 - a search that fails must not take the server down; it says so
            _LOG.exception("layerlab: search %s failed", self.search_id)
            state = self.searches.state(self.search_id)
            state["state"] = "failed"
            self.searches.write_state(self.search_id, state)

    def run(self) -> None:
        import optuna  # lazy: the web server draws pages without a search (module docstring)
        from optuna.trial import TrialState  # lazy, as above

        spec = SearchSpec.model_validate(self.searches.meta(self.search_id)["spec"])
        study = self.searches.study(self.search_id)
        state = self.searches.state(self.search_id)
        trial_runs: dict[int, str] = {int(k): v for k, v in (state.get("trials") or {}).items()}
        # A restart: trials in flight lost their Optuna objects (and usually their runs); fail them, stop their
        # runs, and ask again within what is left of the budget.
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(frozen.number, state=TrialState.FAIL)
            run_id = trial_runs.get(frozen.number)
            if run_id is not None:
                self._stop_run(run_id)
        live: dict[int, tuple[optuna.trial.Trial, str, int]] = {}  # number -> (trial, run id, epochs reported)
        elapsed = float(state.get("elapsed_s") or 0.0)
        last = time.monotonic()
        while not self._closed.is_set():
            now = time.monotonic()
            elapsed += now - last
            last = now
            state = self.searches.state(self.search_id)
            stopping = bool(state.get("stopping"))
            done = sum(
                1 for t_ in study.get_trials(deepcopy=False) if t_.state in (TrialState.COMPLETE, TrialState.PRUNED)
            )
            out_of_trials = spec.budget.trials is not None and done + len(live) >= spec.budget.trials
            out_of_time = spec.budget.minutes is not None and elapsed >= spec.budget.minutes * 60
            if stopping or out_of_time:
                for number, (trial, run_id, _) in list(live.items()):
                    self._stop_run(run_id)
                    study.tell(trial, state=TrialState.FAIL if stopping else TrialState.PRUNED)
                    del live[number]
            while not (stopping or out_of_time or out_of_trials) and len(live) < spec.budget.parallel:
                if self.can_submit is not None and not self.can_submit():
                    break
                trial = study.ask()
                params = suggest(trial, spec.space, spec.base)
                try:
                    run_id = self.submit(trial_spec(spec.base, spec.space, params))
                except QuotaError:
                    study.tell(trial, state=TrialState.FAIL)  # the session's queue is full: try again later
                    break
                except AppError as error:
                    study.tell(trial, state=TrialState.FAIL)
                    _LOG.warning("layerlab: search %s: a trial could not start: %s", self.search_id, error)
                    break
                self.runs.update_meta(run_id, trial=trial.number)
                trial_runs[trial.number] = run_id
                live[trial.number] = (trial, run_id, 0)
                out_of_trials = spec.budget.trials is not None and done + len(live) >= spec.budget.trials
            for number, (trial, run_id, reported) in list(live.items()):
                history = self.runs.history(run_id)
                for row in history[reported:]:
                    if row.get("val_loss") is not None and math.isfinite(row["val_loss"]):
                        trial.report(row["val_loss"], step=row["epoch"])
                live[number] = (trial, run_id, len(history))
                status = self.runs.status(run_id)
                if status.state in FINAL_STATES:
                    loss = best_validation(history)[0]
                    if status.state == "failed" or loss is None:
                        study.tell(trial, state=TrialState.FAIL)
                    elif self.runs.stop_reason(run_id) == "pruned":
                        study.tell(trial, state=TrialState.PRUNED)
                    else:
                        study.tell(trial, loss)
                    del live[number]
                elif len(history) > reported and trial.should_prune():
                    self.runs.request_stop(run_id, reason="pruned")
            finished = not live and (stopping or out_of_time or out_of_trials)
            state.update(
                trials={str(k): v for k, v in trial_runs.items()}, elapsed_s=round(elapsed, 1),
                state=("stopped" if stopping else "finished") if finished else "running",
            )  # fmt: skip
            if finished and self.score is not None and not state.get("chosen"):
                state["chosen"] = self._score_best()
            self.searches.write_state(self.search_id, state)
            if finished:
                return
            self._closed.wait(POLL_S)

    def _score_best(self) -> str | None:
        """Queue the test scoring of the best trial's run (chosen on validation loss); its run id, or None."""
        best = self.searches.view(self.search_id, self.runs).best
        if best is None or best.run_id is None:
            return None
        try:
            self.score(best.run_id)
        except AppError as error:
            _LOG.warning("layerlab: search %s: the best trial could not be scored: %s", self.search_id, error)
            return None
        return best.run_id

    def _stop_run(self, run_id: str) -> None:
        try:
            if self.runs.status(run_id).state not in FINAL_STATES:
                self.runs.request_stop(run_id, reason="pruned")
        except AppError:
            pass  # deleted meanwhile


_RUNNERS: dict[str, SearchRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def run_search(searches: SearchStore, search_id: str, runs: RunStore, submit: Submit,
               can_submit: Callable[[], bool] | None = None, score: Score | None = None) -> SearchRunner:  # fmt: skip
    """The one runner of a search in this process (started if it is not running)."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(search_id)
        if runner is None or not runner.alive():
            runner = SearchRunner(searches, search_id, runs, submit, can_submit, score)
            runner = _RUNNERS[search_id] = runner.start()
        return runner


def shutdown_searches() -> None:
    with _RUNNERS_LOCK:
        runners = list(_RUNNERS.values())
        _RUNNERS.clear()
    for runner in runners:
        runner.close()
