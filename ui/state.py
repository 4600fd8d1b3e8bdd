"""The one typed state object of a browser session, under one session key.

The disk is the truth: the session keeps only ids (table, run) and the spec being edited. The ids are
mirrored in the URL's query parameters and in the owner's session file (`LAYERLAB_HOME/sessions/`), so a
refresh, or coming back later in the same browser, finds the same table and re-attaches to the same run.
Who the session is comes from the server-issued identity (ui/identity.py), never from the URL; a table or
run id in the URL is only honoured when the session owns it (checked in core).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields

import pandas as pd
import streamlit as st

from core.config import Settings
from core.errors import AppError, DataError
from core.run_store import read_json, write_json
from core.spec import DataSpec, ModelSpec, PreprocessingSpec, RunSpec, Task, TrainingSpec, default_model
from ui.identity import new_session_owner
from ui.services import run_store, set_session_owner, settings, table_store

STATE_KEY = "layerlab"
_TOKEN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
# The widgets that show a setting of the spec being edited. A keyed widget keeps its own value in
# session_state and ignores the value it is given, so when the spec changes under it (a one-click fix, an
# imported spec, a new table) its value is dropped and it shows the spec again on the next run.
SETTING_WIDGET_KEYS = frozenset(
    {
        *(f"prepare.{name}" for name in ("validation_fraction", "test_fraction", "group_column", "drop_duplicates")),
        "prepare.folds",
        *(
            f"train.{name}"
            for name in (
                "optimizer", "learning_rate", "momentum", "nesterov", "weight_decay", "batch_size", "epochs", "seed",
                "early_stopping", "patience", "restore", "class_weight", "schedule", "decay_rate", "decay_epochs",
                "warmup_epochs", "alpha", "schedule_patience", "clipping", "clip_limit", "mixed_precision",
            )
        ),
    }
)  # fmt: skip
# Widgets keyed by table and target (the column form, the Data page's choices) are named through
# `AppState.setting_widget(key)`, which lists them in `SessionMemory.setting_widgets`: nothing scans session_state.


@dataclass
class Layer:
    """A hidden layer being edited; `uid` keeps widget keys stable when layers move."""

    uid: str
    spec: object


@dataclass
class SessionMemory:
    """What a session remembers besides the spec being edited: caches, markers and flags. A new table keeps it:
    every cache is keyed by what it was computed from."""

    restored: bool = False  # the ids in the URL or the owner's session file were read (on the first run)
    remembered_ids: dict | None = None  # the ids last written to the owner's session file
    new_table_notice: bool = False  # the Data page says once that a new table's settings start from defaults
    loaded_upload: tuple | None = None  # (file id, sheet, encoding) of the upload already stored as a table
    loaded_image_table: tuple | None = None  # (zip file id, label column) of the images read for a table
    profiles: dict = field(default_factory=dict)  # (table key, target) → the table's profile
    preflight: dict = field(default_factory=dict)  # measurement key → seconds-per-epoch Measurement
    live_figures: dict = field(default_factory=dict)  # chart name → (signature, figure) of a run being watched
    plan_figure: tuple | None = None  # (plan key, figure): the Train page's learning-rate plan
    search_id: str | None = None  # the search the Search page shows
    quality: tuple | None = None  # (quality key, blocking findings): the Train page's data check
    imported_spec: str | None = None  # file id of the spec.json last imported on the Train page
    train_clicks: int = 0  # clicks on Train not answered yet (counted in the button's callback)
    run_prediction: tuple | None = None  # (marker, predictions) of rows uploaded on the Predict page
    row_prediction: tuple | None = None  # (run id, prediction) of the Predict page's one-row form
    model_prediction: tuple | None = None  # (marker, predictions) of an uploaded model on new rows
    clicked_cells: dict = field(default_factory=dict)  # run id → (actual, predicted) last clicked in its matrix
    setting_widgets: set[str] = field(default_factory=set)  # keys of widgets named by `AppState.setting_widget`
    language: str | None = None  # "en", "zh"…: chosen in the sidebar or remembered (ui/language.py)


@dataclass
class AppState:
    owner: str
    table_key: str | None = None
    table_name: str | None = None
    table_notes: tuple[str, ...] = ()
    kind: str = "table"  # DataSpec.kind: table, images (a zip of class folders) or text (a column of free text)
    target: str | None = None
    target_guessed: bool = False  # chosen by `suggest_target`, not yet by the user
    task: Task | None = None
    features: list[str] | None = None
    layers: list[Layer] = field(default_factory=list)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    seed: int = 42
    preprocessing: PreprocessingSpec = field(default_factory=PreprocessingSpec)
    group_column: str | None = None
    drop_duplicates: bool = False
    cross_validation_folds: int = 0
    run_id: str | None = None
    frame_cache: pd.DataFrame | None = None
    # The Data page's source choice: Streamlit drops a widget's value on runs of other pages.
    data_source: str = "Sample data"
    memory: SessionMemory = field(default_factory=SessionMemory)

    def model_spec(self) -> ModelSpec:
        return ModelSpec(layers=tuple(layer.spec for layer in self.layers))

    def set_model(self, spec: ModelSpec) -> None:
        self.layers = [Layer(uid=secrets.token_hex(4), spec=layer) for layer in spec.layers]

    def run_spec(self) -> RunSpec:
        """The spec being edited; raises pydantic's ValidationError when a setting is invalid."""
        return RunSpec(
            data=DataSpec(
                kind=self.kind,
                target=self.target,
                features=tuple(self.features or ()),
                task=self.task,
                test_fraction=self.test_fraction,
                validation_fraction=self.validation_fraction,
                seed=self.seed,
                group_column=self.group_column,
                drop_duplicates=self.drop_duplicates,
                cross_validation_folds=self.cross_validation_folds,
            ),
            preprocessing=self.preprocessing,
            model=self.model_spec(),
            training=self.training,
        )

    def apply_spec(self, spec: RunSpec) -> None:
        """Load a spec (imported, restored after a refresh, or with a quality fix applied) into the editor."""
        data = spec.data
        self.kind = data.kind
        self.target, self.task, self.features = data.target, data.task, list(data.features) or None
        self.test_fraction, self.validation_fraction, self.seed = (
            data.test_fraction,
            data.validation_fraction,
            data.seed,
        )
        self.group_column, self.drop_duplicates = data.group_column, data.drop_duplicates
        self.cross_validation_folds = data.cross_validation_folds
        self.preprocessing = spec.preprocessing
        self.set_model(spec.model)
        self.training = spec.training
        self.forget_setting_widgets()

    def ignored_columns(self) -> set[str]:
        return {column.name for column in self.preprocessing.columns if column.role == "ignore"}

    def choose_features(self, selected: list[str], candidates: list[str]) -> None:
        """The Data page's inputs. A column ignored on the Prepare page is not among them; choosing it there
        again takes the ignore off, so both pages always name the same inputs."""
        columns = tuple(
            column.model_copy(update={"role": "feature"}) if column.name in selected else column
            for column in self.preprocessing.columns
        )
        if columns != self.preprocessing.columns:
            self.preprocessing = self.preprocessing.model_copy(update={"columns": columns})
        ignored = self.ignored_columns()
        listed = [name for name in candidates if name in selected or name in ignored]
        self.features = listed if len(listed) != len(candidates) else None

    def start_table(
        self, key: str, name: str, notes: tuple[str, ...], frame: pd.DataFrame | None, kind: str = "table"
    ) -> None:
        """Use another table: every setting starts from its default, none carries over from the last table.
        An image set (kind images) starts with its class folders as the target and the small CNN."""
        fresh = AppState(owner=self.owner, table_key=key, table_name=name, table_notes=notes, kind=kind)
        fresh.run_id, fresh.data_source, fresh.memory = self.run_id, self.data_source, self.memory
        fresh.set_model(default_model(kind))
        if kind == "images":
            fresh.target = "label"
        fresh.frame_cache = frame
        # Said only when something was reset: not when the automatic first sample is replaced untouched.
        reset = self.table_key is not None and self._settings() != fresh._settings()
        for setting in fields(self):
            setattr(self, setting.name, getattr(fresh, setting.name))
        self.forget_setting_widgets()
        if reset:
            self.memory.new_table_notice = True

    def setting_widget(self, key: str) -> str:
        """The key of a widget that shows a setting and is named at run time (by table, target...): listed
        here, so `forget_setting_widgets` drops its value when the spec changes under it."""
        self.memory.setting_widgets.add(key)
        return key

    def forget_setting_widgets(self) -> None:
        """Drop the values the settings widgets keep, so they show the spec being edited on the next run."""
        for key in SETTING_WIDGET_KEYS | self.memory.setting_widgets:
            if key in st.session_state:
                del st.session_state[key]
        self.memory.setting_widgets.clear()

    def set_kind(self, kind: str) -> None:
        """Read the same table as another kind (a table with a text column: as a table, or as text); the
        model starts from that kind's default."""
        if kind != self.kind:
            self.kind = kind
            self.set_model(default_model(kind))

    def _settings(self) -> tuple:
        """Everything chosen for a table except its target."""
        return (
            self.features,
            self.model_spec(),
            self.training,
            self.test_fraction,
            self.validation_fraction,
            self.seed,
            self.preprocessing,
            self.group_column,
            self.drop_duplicates,
            self.cross_validation_folds,
        )


def _valid_token(value: str | None, length: int | None = None) -> bool:
    return bool(value) and set(value) <= _TOKEN_CHARS and (length is None or len(value) == length)


def _route_through_app() -> None:
    """Make app.py route this request even right after the server started.

    Streamlit starts in its legacy `pages/` directory mode and leaves it only once some session has run
    app.py's `st.navigation`. Until then, a browser asking for a page's URL (a bookmark, or a refresh
    after a restart: `/train?run=…`) gets that file run on its own, with an automatic sidebar listing
    "app", "data", "download"… and without app.py's setup. A page that finds itself run that way switches
    the mode off (for every session, as `st.navigation` itself does) and reruns, so app.py routes it."""
    from ui.streamlit_private import leave_pages_folder_mode

    if leave_pages_folder_mode():
        # Only a session's first run reruns: a rerun drops the widget values of the run it replaces (a
        # click). Streamlit's AppTest switches the mode on again before every run it makes.
        state = st.session_state.get(STATE_KEY)
        if state is None or not state.memory.restored:
            st.rerun()


def _stored_state() -> AppState:
    """The session's one state object under STATE_KEY, made on first use with the session's owner only."""
    state = st.session_state.get(STATE_KEY)
    if state is None:
        state = AppState(owner=new_session_owner())
        state.set_model(ModelSpec())
        st.session_state[STATE_KEY] = state
    return state


def session_owner() -> str:
    """The owner id of this browser session, kept in the state object (stable across reruns)."""
    return _stored_state().owner


def get_state() -> AppState:
    """The session's state; on the session's first run, its ids come back from the URL or the session file."""
    _route_through_app()
    state = _stored_state()
    if not state.memory.restored:
        state.memory.restored = True
        owner = state.owner
        params = st.query_params
        remembered = read_json(_session_file(settings(), owner), {}) or {}
        state.memory.language = remembered.get("language")  # checked against core.i18n.LANGUAGES when used
        table = params.get("table") if "table" in params else remembered.get("table")
        if _valid_token(table, 64):
            _attach_table(state, table)
        run = params.get("run") if "run" in params else remembered.get("run")
        if _valid_token(run, 24):
            _attach_run(state, run)
    return state


def _attach_table(state: AppState, key: str) -> None:
    """Use a table by key, if this session may see it (in shared mode: its own tables only)."""
    try:
        record = table_store().record(key)
    except (AppError, OSError, ValueError):
        return
    state.table_key, state.table_name, state.table_notes = record.key, record.name, record.notes
    if record.kind == "images":
        state.kind, state.target = "images", state.target or "label"


def _attach_run(state: AppState, run_id: str) -> None:
    """Re-attach to a run and bring back its spec, if this session may see it."""
    try:
        spec = run_store().spec(run_id)
    except (AppError, OSError, ValueError):
        return
    state.run_id = run_id
    state.apply_spec(spec)


def _session_file(settings: Settings, owner: str):
    return settings.home / "sessions" / f"{owner}.json"


def sync_query_params(state: AppState) -> None:
    """Write the ids to the URL and the owner's session file; page switches clear query parameters, so this
    runs on every script run. No identity and no name goes into the URL: only ids, checked when read."""
    wanted = {}
    if state.table_key:
        wanted["table"] = state.table_key
    if state.run_id:
        wanted["run"] = state.run_id
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)
    remembered = {"table": state.table_key, "run": state.run_id, "language": state.memory.language}
    if state.memory.remembered_ids != remembered:
        try:
            write_json(_session_file(settings(), state.owner), remembered)
        except OSError:
            pass  # re-attaching later is a convenience; the page works without it
        state.memory.remembered_ids = remembered


def store_table(
    settings: Settings,
    state: AppState,
    frame: pd.DataFrame,
    name: str,
    notes: tuple[str, ...],
    reading: dict | None = None,
) -> None:
    """Keep the loaded table on disk (Parquet) so a refresh or restart does not lose it.

    In shared mode the session's disk and table quotas are checked first (`QuotaError`)."""
    from core.shared_mode.limits import check_session_disk

    check_session_disk(settings, state.owner)
    key, safe = table_store().put(frame, name=name, notes=notes, reading=reading)
    state.start_table(key, name, notes, safe)


def store_image_set(settings: Settings, state: AppState, image_set, name: str) -> None:
    """Keep an image set read from a zip (`core.data.images.ImageSet`): its manifest as a table, its pixels
    beside it. The session's disk and table quotas are checked first, as for tables."""
    from core.shared_mode.limits import check_session_disk

    check_session_disk(settings, state.owner)
    image = {
        "side": image_set.side,
        "channels": image_set.channels,
        "skipped": [{"name": item.name, "reason": item.reason.to_dict()} for item in image_set.skipped[:500]],
        "skipped_count": len(image_set.skipped),
        "notes": [note.to_dict() for note in image_set.notes],
        "labelled_by": image_set.labelled_by,
    }
    key, safe = table_store().put(image_set.manifest, name=name, pixels=image_set.pixels_path, image=image)
    state.start_table(key, name, (), safe, kind="images")


def load_image_zip(settings: Settings, state: AppState, source, name: str) -> None:
    """Read a zip of class folders into a stored image set (pixels on disk) and make it the current data."""
    from core.data.images import read_image_zip

    pixels_path = table_store().root / f".upload-{secrets.token_hex(6)}.npy"
    try:
        image_set = read_image_zip(source, pixels_path)
        store_image_set(settings, state, image_set, name)
    finally:
        pixels_path.unlink(missing_ok=True)


def load_image_table(settings: Settings, state: AppState, frame: pd.DataFrame, path_column: str, label_column: str,
                     source, name: str) -> None:  # fmt: skip
    """A table naming image files (`path_column`) with their labels (`label_column`) plus the zip holding them:
    read into a stored image set (pixels on disk), which becomes the current data, its target the label."""
    from core.data.images import read_image_table

    pixels_path = table_store().root / f".upload-{secrets.token_hex(6)}.npy"
    try:
        image_set = read_image_table(frame, path_column, label_column, source, pixels_path)
        store_image_set(settings, state, image_set, name)
    finally:
        pixels_path.unlink(missing_ok=True)


def current_pixels(state: AppState):
    """Kind images: the current image set's pixels, memory-mapped (None for a table)."""
    import numpy as np

    path = table_store().pixels_path(state.table_key) if state.table_key else None
    return np.load(path, mmap_mode="r") if path is not None else None


def current_pixels_path(state: AppState):
    """Kind images: the stored pixel file a new run links (None for a table)."""
    return table_store().pixels_path(state.table_key) if state.table_key and state.kind == "images" else None


def current_image_info(state: AppState) -> dict:
    """Kind images: the stored set's side, channels, skipped files and notes."""
    return (table_store().record(state.table_key).image or {}) if state.table_key else {}


def current_table(settings: Settings, state: AppState) -> pd.DataFrame | None:
    if state.table_key is None:
        return None
    if state.frame_cache is None:
        try:
            state.frame_cache = table_store().load(state.table_key)
        except DataError:
            state.table_key = None
            raise
    return state.frame_cache


def current_table_path(state: AppState):
    """The stored table's file (runs reference it instead of copying it)."""
    return table_store().path(state.table_key)


def current_table_reading(state: AppState) -> dict | None:
    """How the current table's file was read (encoding, delimiter, decimal mark), for the run to record."""
    return table_store().record(state.table_key).reading


set_session_owner(session_owner)  # ui.services opens this session's stores for the owner kept here
