"""The live view of one run: status, queue position, progress, curves, Stop. Polls the disk while active."""

from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.explanations import CHART_HELP
from core.i18n import get_language, t
from core.model.building import derive_head
from core.model.optimization import preview_learning_rates
from core.plain_text import markdown_literal
from core.run_store import PENDING_HOST, Progress, RunFiles, RunStatus, RunStore, elapsed_seconds
from core.runtime.devices import device_text
from core.spec import TrainingSpec
from core.training.coach import CoachContext, CoachFinding, apply_coach_fix, coach, dummy_reference
from ui.charts import learning_rate_figure, training_curves
from ui.components import STATE_BADGES, format_seconds, show_error
from ui.language import fragment
from ui.services import job_manager
from ui.spec_fields import number_kwargs
from ui.state import get_state

POLL_S = 1.0


def metric_label(store: RunStore, run_id: str) -> str:
    info = store.target(run_id)
    if info is not None:
        label = derive_head(info["task"], len(info["classes"])).metric_label
        return t("train.live.metric_units", metric=label, name=info["name"]) if info["task"] == "regression" else label
    return t("train.live.metric")


def _render(store: RunStore, run_id: str) -> bool:
    """Draw the run; returns whether it is still active."""
    status = store.status(run_id)
    state = status.state
    header, stop_col = st.columns([4, 1])
    header.markdown(f"{STATE_BADGES.get(state, state)} — {markdown_literal(status.sentence())}")
    if state in {"queued", "running", "created"}:
        if stop_col.button(
            t("train.live.stop"), icon=":material/stop:", key=f"train.stop.{run_id}", type="secondary", width="stretch"
        ):
            job_manager().stop(run_id)
            st.toast(t("train.live.stopping"))
    if state == "queued":
        position = job_manager().queue_position(run_id)
        if position:
            st.info(t("train.live.queue_position", position=position))
    progress = store.progress(run_id)
    if status.device:
        precision = t("train.live.mixed_precision") if status.precision == "mixed_float16" else ""
        host = status.extra.get("host")
        cluster = (
            t("train.live.on_cluster", host=markdown_literal(host))
            if status.extra.get("backend") == "ray" and host and host != PENDING_HOST
            else ""
        )
        spread = status.extra.get("data_parallel")
        parallel = (
            t("train.live.data_parallel", devices=spread["devices"], per_device=spread["batch_per_device"],
              per_step=spread["batch_per_step"])
            if isinstance(spread, dict) and spread.get("devices", 1) > 1
            else ""
        )  # fmt: skip
        st.caption(t("train.live.device", device=device_text(status.device), precision=precision) + parallel + cluster)
    if progress.started and state in {"running", "queued"}:
        fold = (
            t("train.live.progress_fold", fold=progress.fold, folds=progress.folds)
            if progress.phase == "cross_validation"
            else ""
        )
        # From the run's start on every poll, so it ticks during a long step (the progress file moves at batch ends).
        elapsed = (elapsed_seconds(status) if state == "running" else None) or progress.elapsed_s
        # None until the worker's estimate can be trusted (see core.training.run_job.estimate_eta).
        eta = (
            t("train.live.eta_estimating")
            if progress.eta_s is None
            else t("train.live.eta", time=format_seconds(progress.eta_s))
        )
        text = t(
            "train.live.progress",
            fold=fold,
            epoch=progress.epoch,
            epochs=progress.epochs,
            batch=progress.batch,
            steps=progress.steps_per_epoch,
            elapsed=format_seconds(elapsed),
            eta=eta,
        )
        st.progress(float(progress.fraction), text=text)
    history = store.history(run_id)
    if history:
        curves = _cached_figure(
            f"curves.{run_id}", len(history), lambda: training_curves(history, metric_label(store, run_id))
        )
        st.plotly_chart(curves, key=f"train.curves.{run_id}", width="stretch")
        st.caption(CHART_HELP["training_curves"])
        _learning_rate_chart(store, run_id, history, progress)
        _coach(store, run_id, history, status)
    elif state in {"running", "queued"}:
        st.caption(t("train.live.chart_after_first_epoch"))
    if state == "failed":
        st.error(markdown_literal(status.sentence() or t("train.live.failed")), icon=":material/error:")
    if state in {"finished", "stopped"}:
        st.success(t("train.live.done"))
        left, right = st.columns(2)
        left.page_link(page="pages/evaluate.py", label=t("train.live.evaluate"), icon=":material/analytics:")
        right.page_link(page="pages/download.py", label=t("train.live.download"), icon=":material/download:")
    if state in {"finished", "stopped", "failed"} and history:
        _continue(store, run_id, quiet=state == "failed")
    return state in {"queued", "running", "created"}


def _cached_figure(name: str, signature, build):
    """A chart rebuilt only when its data changed (a new epoch), not on every poll.

    Building Plotly figures is the costly part of a poll: with many visitors watching runs, rebuilding
    unchanged figures every second kept the server's threads busy and froze pages."""
    cache = get_state().memory.live_figures
    signature = (signature, get_language())  # titles, axes and legends are in the reader's language
    cached = cache.get(name)
    if cached is None or cached[0] != signature:
        cached = (signature, build())
        cache[name] = cached
    return cached[1]


def _learning_rate_chart(store: RunStore, run_id: str, history: list[dict], progress: Progress) -> None:
    if not any(row.get("learning_rate") is not None for row in history):
        return
    steps_per_epoch = progress.steps_per_epoch

    def build():
        planned = None
        if steps_per_epoch:
            training = store.spec(run_id).training
            epochs = max(int(progress.epochs or training.epochs), len(history))
            planned = preview_learning_rates(training, steps_per_epoch=steps_per_epoch, epochs=epochs).tolist()
        return learning_rate_figure(planned=planned, history=history, title=t("train.live.learning_rate_title"))

    figure = _cached_figure(f"learning_rate.{run_id}", (len(history), steps_per_epoch), build)
    st.plotly_chart(figure, key=f"train.learning_rate.{run_id}", width="stretch")
    st.caption(CHART_HELP["learning_rate"])


def _coach(store: RunStore, run_id: str, history: list[dict], status: RunStatus) -> None:
    """The coach's findings under the curves, each with a button that starts a new run with its fix."""
    spec = store.spec(run_id)
    findings = coach(
        history,
        spec,
        state=status.state,
        diverged=status.diverged,
        context=_coach_context(store, run_id),
    )
    if not findings:
        return
    st.markdown(f"**{t('train.live.coach')}**")
    for finding in findings:
        st.warning(markdown_literal(finding.message), icon=":material/school:")
        if finding.fix is not None and st.button(
            t("train.live.coach_fix", fix=finding.fix_label),
            key=f"train.coach.{run_id}.{finding.kind}",
            icon=":material/restart_alt:",
        ):
            _start_fixed_run(store, run_id, spec, finding)


def _coach_context(store: RunStore, run_id: str) -> CoachContext:
    """What the coach checks its advice against: the fix that made this run, its parent's spec, the dummy."""
    origin = store.meta(run_id).get("coach_fix") or {}
    previous_spec = None
    if origin.get("from_run"):
        try:
            previous_spec = store.spec(origin["from_run"])
        except (AppError, OSError):
            previous_spec = None  # deleted since: the fix's name alone still stops a loop
    reference = dummy_reference(store.metrics(run_id))
    return CoachContext(
        applied_fix=origin.get("fix"),
        previous_spec=previous_spec,
        dummy_score=reference[0] if reference else None,
        higher_is_better=reference[1] if reference else True,
    )


def _start_fixed_run(store: RunStore, run_id: str, spec, finding: CoachFinding) -> None:
    state = get_state()
    try:
        fixed = apply_coach_fix(spec, finding)
        new_id = job_manager().start(
            store,
            fixed,
            store.files(run_id).path(RunFiles.DATA),
            source_name=store.meta(run_id).get("source_name", "table"),
            reading=store.meta(run_id).get("reading"),
            pixels=store.files(run_id).path(RunFiles.PIXELS) if store.pixels(run_id) is not None else None,
        )
        store.update_meta(new_id, coach_fix={"fix": finding.fix, "kind": finding.kind, "from_run": run_id})
    except AppError as error:
        show_error(error)
        return
    state.apply_spec(fixed)  # also drops the settings widgets' values, so they show the fixed spec
    state.run_id = new_id
    st.rerun(scope="app")


def _continue(store: RunStore, run_id: str, *, quiet: bool) -> None:
    """Continue for N more epochs: the same run, from its checkpoint, with its optimizer state."""
    from core.training.run_job import request_resume, resume_problem

    problem = resume_problem(store, run_id)
    if problem:
        if not quiet:
            st.caption(markdown_literal(problem))
        return
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    more = left.number_input(
        t("train.live.more_epochs"), **number_kwargs(TrainingSpec, "epochs", value=5), key=f"train.more_epochs.{run_id}"
    )
    if right.button(t("train.live.continue"), icon=":material/fast_forward:", key=f"train.continue.{run_id}"):
        try:
            request_resume(store, run_id, int(more))
            job_manager().submit(run_id)
        except AppError as error:
            show_error(error)
            return
        st.rerun(scope="app")


def live_run(store: RunStore, run_id: str) -> None:
    """Render the run; while it is active, re-render from disk every second (and only then)."""
    try:
        active = store.status(run_id).state in {"queued", "running", "created"}
    except AppError as error:
        show_error(error)
        return

    @fragment(run_every=POLL_S if active else None)  # every poll in the session's language
    def _panel():
        still_active = _render(store, run_id)
        if active and not still_active:
            st.rerun()  # switch polling off and refresh the rest of the page

    _panel()
