import math

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from core.data.quality import assess_quality
from core.errors import AppError, SpecError
from core.explanations import CHART_HELP
from core.i18n import get_language, t
from core.kinds import dataset_kind
from core.model.building import check_stack, infer_shapes
from core.model.optimization import OPTIMIZER_LABELS, SCHEDULE_LABELS, describe_schedule, preview_learning_rates
from core.plain_text import markdown_literal
from core.shared_mode.limits import describe_caps
from core.spec import DataSpec, ScheduleSpec, TrainingSpec, format_validation_error, parse_spec
from ui.charts import learning_rate_figure
from ui.components import cached_profile, next_step_line, pick_run, require_table, run_label, show_error, visible_runs
from ui.live_run import live_run
from ui.services import job_manager, run_store, settings
from ui.spec_fields import choice_labeller, help_text, number_kwargs, select_kwargs, slider_kwargs
from ui.state import current_image_info, current_pixels_path, current_table_path, current_table_reading, get_state

OPTIMIZERS = OPTIMIZER_LABELS
CLIPPING = ("none", "clipnorm", "clipvalue")  # labels: train.page.clipping.<value>

state = get_state()
store = run_store()
st.title(t("train.page.title"))
what_next = next_step_line("train", "ready")
frame = require_table(state)

if frame is not None:
    training = state.training
    with st.expander(t("train.page.settings"), expanded=state.run_id is None):
        first, second, third = st.columns(3)
        optimizer = first.selectbox(
            t("train.page.optimizer"), **select_kwargs(TrainingSpec, "optimizer", value=training.optimizer), format_func=OPTIMIZERS.get,
            key="train.optimizer",
        )  # fmt: skip
        learning_rate = first.number_input(
            t("train.page.learning_rate"),
            **number_kwargs(TrainingSpec, "learning_rate", value=training.learning_rate, format="%.5f", step=1e-4),
            key="train.learning_rate",
        )
        momentum = training.momentum
        weight_decay = training.weight_decay
        nesterov = training.nesterov
        if optimizer == "sgd":
            momentum = first.slider(
                t("train.page.momentum"),
                **slider_kwargs(TrainingSpec, "momentum", value=training.momentum),
                key="train.momentum",
            )
            nesterov = first.checkbox(
                t("train.page.nesterov"),
                training.nesterov,
                key="train.nesterov",
                help=help_text(TrainingSpec, "nesterov"),
            )
        if optimizer == "adamw":
            weight_decay = first.number_input(
                t("train.page.weight_decay"),
                **number_kwargs(TrainingSpec, "weight_decay", value=training.weight_decay, format="%.4f"),
                key="train.weight_decay",
            )
        batch_size = second.number_input(
            t("train.page.batch_size"),
            **number_kwargs(TrainingSpec, "batch_size", value=training.batch_size),
            key="train.batch_size",
        )
        epochs = second.number_input(
            t("train.page.epochs"), **number_kwargs(TrainingSpec, "epochs", value=training.epochs), key="train.epochs"
        )
        seed = second.number_input(
            t("train.page.seed"), **number_kwargs(DataSpec, "seed", value=state.seed), key="train.seed"
        )
        early_stopping = third.toggle(
            t("train.page.early_stopping"),
            training.early_stopping,
            key="train.early_stopping",
            help=help_text(TrainingSpec, "early_stopping"),
        )
        patience, restore = training.patience, training.restore_best_weights
        if early_stopping:
            patience = third.number_input(
                t("train.page.patience"),
                **number_kwargs(TrainingSpec, "patience", value=training.patience),
                key="train.patience",
            )
            restore = third.checkbox(
                t("train.page.restore"), training.restore_best_weights, key="train.restore",
                help=help_text(TrainingSpec, "restore_best_weights"),
            )  # fmt: skip
        class_weight = training.class_weight
        if (state.task or "") != "regression":
            class_weight = first.selectbox(
                t("train.page.class_weights"), **select_kwargs(TrainingSpec, "class_weight", value=training.class_weight),
                format_func=choice_labeller(TrainingSpec, "class_weight"), key="train.class_weight",
            )  # fmt: skip
        schedule_box, clipping_box, precision_box = st.columns(3)
        s = training.schedule
        kind = schedule_box.selectbox(
            t("train.page.schedule"), **select_kwargs(ScheduleSpec, "kind", value=s.kind),
            format_func=SCHEDULE_LABELS.get, key="train.schedule",
        )  # fmt: skip
        schedule_values = s.model_dump()
        schedule_values["kind"] = kind
        if kind in {"step", "exponential", "reduce_on_plateau"}:
            schedule_values["decay_rate"] = schedule_box.number_input(
                t("train.page.decay_rate"),
                **number_kwargs(ScheduleSpec, "decay_rate", value=s.decay_rate, step=0.05, format="%.2f"),
                key="train.decay_rate",
            )
        if kind in {"step", "exponential"}:
            schedule_values["decay_epochs"] = schedule_box.number_input(
                t("train.page.decay_epochs"), **number_kwargs(ScheduleSpec, "decay_epochs", value=s.decay_epochs),
                key="train.decay_epochs",
            )  # fmt: skip
        if kind == "cosine":
            schedule_values["warmup_epochs"] = schedule_box.number_input(
                t("train.page.warmup_epochs"), **number_kwargs(ScheduleSpec, "warmup_epochs", value=s.warmup_epochs),
                key="train.warmup_epochs",
            )  # fmt: skip
            schedule_values["alpha"] = schedule_box.number_input(
                t("train.page.alpha"), **number_kwargs(ScheduleSpec, "alpha", value=s.alpha, step=0.05),
                key="train.alpha",
            )  # fmt: skip
        if kind == "reduce_on_plateau":
            schedule_values["patience"] = schedule_box.number_input(
                t("train.page.plateau_patience"), **number_kwargs(ScheduleSpec, "patience", value=s.patience),
                key="train.schedule_patience",
            )  # fmt: skip
        clip_now = (
            "clipnorm" if training.clipnorm is not None else "clipvalue" if training.clipvalue is not None else "none"
        )
        clipping = clipping_box.selectbox(
            t("train.page.clipping"), list(CLIPPING), index=list(CLIPPING).index(clip_now),
            format_func={value: t(f"train.page.clipping.{value}") for value in CLIPPING}.get,
            key="train.clipping", help=t("train.page.clipping_help"),
        )  # fmt: skip
        clip_limit = None
        if clipping != "none":
            clip_limit = clipping_box.number_input(
                t("train.page.clip_at"), **number_kwargs(TrainingSpec, clipping, value=training.clipnorm or training.clipvalue or 1.0, format="%.3f"),
                key="train.clip_limit",
            )  # fmt: skip
        mixed_precision = precision_box.toggle(
            t("train.page.mixed_precision"), training.mixed_precision, key="train.mixed_precision",
            help=help_text(TrainingSpec, "mixed_precision"),
        )  # fmt: skip
    spec = None
    try:
        state.training = TrainingSpec(
            optimizer=optimizer,
            learning_rate=float(learning_rate),
            momentum=float(momentum),
            nesterov=bool(nesterov),
            weight_decay=float(weight_decay),
            schedule=ScheduleSpec(**schedule_values),
            clipnorm=float(clip_limit) if clipping == "clipnorm" else None,
            clipvalue=float(clip_limit) if clipping == "clipvalue" else None,
            mixed_precision=bool(mixed_precision),
            batch_size=int(batch_size),
            epochs=int(epochs),
            early_stopping=bool(early_stopping),
            patience=int(patience),
            restore_best_weights=bool(restore),
            class_weight=class_weight,
        )
        state.seed = int(seed)
        spec = state.run_spec()
    except ValidationError as error:
        show_error(SpecError(t("train.page.bad_settings", problem=format_validation_error(error))))

    if spec is not None:
        # Planned before training, from an estimate of the training rows; the run's chart shows the rate used.
        train_rows = max(1, round(len(frame) * (1 - spec.data.test_fraction - spec.data.validation_fraction)))
        steps_per_epoch = math.ceil(train_rows / min(spec.training.batch_size, train_rows))
        planned = preview_learning_rates(spec.training, steps_per_epoch=steps_per_epoch)
        with st.expander(t("train.page.plan"), expanded=spec.training.schedule.kind != "constant"):
            plan_key = (spec.training.model_dump_json(), steps_per_epoch, get_language())  # titles follow the language
            plan = state.memory.plan_figure
            if plan is None or plan[0] != plan_key:
                plan = (plan_key, learning_rate_figure(planned=planned.tolist(), title=t("train.page.plan_title")))
                state.memory.plan_figure = plan
            st.plotly_chart(plan[1], key="train.schedule_preview", width="stretch")
            st.caption(CHART_HELP["learning_rate_plan"])
            st.caption(describe_schedule(spec.training))

    with st.expander(t("train.page.spec")):
        if spec is not None:
            st.code(spec.to_json(), language="json")
            st.download_button(
                t("train.page.download_spec"),
                spec.to_json(),
                "spec.json",
                "application/json",
                key="train.download_spec",
            )
        imported = st.file_uploader(t("train.page.import_spec"), type=["json"], key="train.import_spec")
        if imported is not None and state.memory.imported_spec != imported.file_id:
            try:
                state.apply_spec(parse_spec(imported.getvalue()))  # also drops the settings widgets' values
                state.memory.imported_spec = imported.file_id
                st.rerun()
            except AppError as error:
                show_error(error)

    blocking = []
    stack_problem = None
    if spec is not None:
        # Checked once per table and spec, not on every rerun: with many visitors clicking at once the check
        # on each click's rerun delayed every page (bench/shared_load.py).
        quality_key = (  # what the check reads: the data, the preparation and the class weights
            state.table_key,
            spec.data.model_dump_json(),
            spec.preprocessing.model_dump_json(),
            spec.training.class_weight,
        )
        if spec.data.kind == "table":
            cached = state.memory.quality
            if cached is None or cached[0] != quality_key:
                findings = assess_quality(frame, spec, profile=cached_profile(state, frame, state.target))
                cached = (quality_key, [f for f in findings if f.severity == "error"])
                state.memory.quality = cached
            blocking = cached[1]
            try:
                check_stack(spec.model, len(spec.data.features) or frame.shape[1] - 1)
            except SpecError as error:
                stack_problem = error.message
        else:
            # Images and text: the data was checked when it was read; the layers must fit the kind's input.
            try:
                model_input = dataset_kind(spec.data.kind).preview_input(frame, spec, current_image_info(state))
                infer_shapes(
                    spec.model,
                    model_input.input_shape or (model_input.num_inputs,),
                    input_kind=model_input.input_kind,
                )
            except AppError as error:
                stack_problem = error.message
    for finding in blocking:
        st.error(markdown_literal(finding.message), icon=":material/block:")
    if blocking:
        st.page_link(page="pages/prepare.py", label=t("train.page.fix_prepare"), icon=":material/tune:")
    if stack_problem:
        st.error(markdown_literal(stack_problem), icon=":material/block:")
        st.page_link(page="pages/model.py", label=t("train.page.fix_model"), icon=":material/layers:")

    def _count_click() -> None:
        # A callback runs before the script, once per click, even when a quick second click interrupts the
        # rerun of the first: every click is counted here and answered below with a run or a message.
        state.memory.train_clicks += 1

    st.button(
        t("train.page.train"),
        icon=":material/play_arrow:",
        type="primary",
        disabled=spec is None or bool(blocking) or stack_problem is not None,
        key="train.start",
        on_click=_count_click,
    )
    clicks, state.memory.train_clicks = state.memory.train_clicks, 0
    for _ in range(clicks if spec is not None and not blocking and stack_problem is None else 0):
        try:
            state.run_id = job_manager().start(
                store,
                spec,
                current_table_path(state),
                source_name=state.table_name or "table",
                reading=current_table_reading(state),
                pixels=current_pixels_path(state),
            )
        except AppError as error:
            show_error(error)
            break
    caps = describe_caps(settings())
    if caps:
        st.caption(t("train.page.caps", caps=t("train.page.caps_separator").join(c for c in caps if c)))

st.divider()
st.subheader(t("train.page.run"))
record = pick_run(store, state, key="train.run")
if record is None:
    st.caption(t("train.page.no_runs"))
else:
    live_run(store, record.run_id)
if frame is None:
    next_step_line("train", "no_table", what_next)
elif record is not None:
    situation = {"created": "running", "queued": "running", "running": "running", "failed": "failed"}
    next_step_line("train", situation.get(record.state, "finished"), what_next)

runs = visible_runs(store, state)
if runs:
    with st.expander(t("train.page.all_runs", count=len(runs))):
        rows = []
        for r in runs:
            metrics = store.status(r.run_id).metrics
            main = metrics.get("accuracy", metrics.get("r2"))
            rows.append(
                {
                    t("train.page.column.started"): pd.to_datetime(r.created_at, unit="s"),
                    t("train.page.column.data"): r.source_name,
                    t("train.page.column.state"): t(f"train.state.{r.state}"),
                    t("train.page.column.score"): None if main is None else round(main, 4),
                    t("train.page.column.message"): r.sentence(),
                    t("train.page.column.id"): r.run_id[:6],
                }
            )
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        st.caption(t("train.page.max_jobs", count=settings().max_jobs))  # no manager (workers) just to say it
        done = {r.run_id: r for r in runs if not r.is_active}
        if done:
            left, right = st.columns([3, 1], vertical_alignment="bottom")
            doomed = left.selectbox(
                t("train.page.delete_choice"),
                list(done),
                format_func={run_id: run_label(record) for run_id, record in done.items()}.get,
                key="train.delete_choice",
            )
            if right.button(t("train.page.delete"), icon=":material/delete:", key="train.delete", width="stretch"):
                try:
                    store.delete_run(doomed)
                    if state.run_id == doomed:
                        state.run_id = None
                    st.toast(t("train.page.deleted"))
                    st.rerun()
                except AppError as error:
                    show_error(error)
