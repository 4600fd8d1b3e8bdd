"""The training coach: reads a run's curves and says, in plain words, what went wrong and what to change.

`coach(history, spec, state=...)` looks at the per-epoch rows of `history.json` (live while a run trains,
and after it) and returns findings; each carries one fix that `apply_coach_fix` turns into a new `RunSpec`
(a declarative edit, like the quality gate's fixes), so the page can start a new run with it in one click.

What it recognises, from the rows alone:
- divergence: the loss became NaN/infinite or exploded (the run stopped and kept its best weights);
- overfitting: since the epoch with the lowest validation loss, the training loss kept falling while the
  validation loss rose, for at least `OVERFIT_EPOCHS` epochs;
- learning rate too high: the training loss rises in many epochs instead of falling steadily;
- learning rate too low: the training loss falls every epoch, but by almost nothing;
- plateau: the validation loss has not improved for `PLATEAU_EPOCHS` epochs and is flat.

Each fix is checked against the run it would produce (`CoachContext`): a fix that changes nothing, repeats
the fix that made this run, or leads back to the spec this run was fixed from is not offered again; the
coach says what was tried instead. When the validation metric is no better than the dummy baseline's, the
inputs carry little signal, and blaming the learning rate would send the user in circles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from core.i18n import message_ids, t
from core.spec import DenseLayer, DropoutLayer, RunSpec, parse_spec

OVERFIT_EPOCHS = 3
OVERFIT_RISE = 0.02  # the validation loss must end at least 2% above its best
PLATEAU_EPOCHS = 5
PLATEAU_FLAT = 0.01  # ... and within 1% of the best for that long
SLOW_EPOCHS = 5
SLOW_TOTAL_DROP = 0.05  # falling every epoch, yet less than 5% in total
DROPOUT_RATE = 0.2
MIN_LEARNING_RATE = 1e-6  # the smallest rate the Train page's field accepts
L2_PENALTY = 1e-4


SIGNAL_MARGIN = 0.01  # within 1 point of accuracy (or 1% of the error) of the dummy is "no better"
LEARNING_RATE_FIXES = {"lower_learning_rate", "raise_learning_rate"}


@dataclass(frozen=True, slots=True)
class CoachFinding:
    """One observation about a run, and the one change that addresses it (None when no change will help).

    kind: divergence, overfitting, learning_rate_too_high, learning_rate_too_low, plateau, little_signal or
        fix_did_not_help.
    fix: lower_learning_rate, raise_learning_rate, add_dropout, add_l2, enable_early_stopping, reduce_on_plateau
        or None.
    value: the new learning rate, for the learning-rate fixes.
    """

    kind: str
    message: str
    fix: str | None
    fix_label: str | None
    value: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CoachContext:
    """What the coach knows besides the curves.

    applied_fix: the coach fix that started this run (meta.json `coach_fix`), if any.
    previous_spec: the spec of the run that fix was applied to, when it still exists.
    dummy_score: the dummy baseline's score on the live metric (accuracy, or MAE for regression).
    higher_is_better: whether that metric improves upwards (accuracy) or downwards (MAE).
    """

    applied_fix: str | None = None
    previous_spec: RunSpec | None = None
    dummy_score: float | None = None
    higher_is_better: bool = True


def dummy_reference(metrics: dict | None) -> tuple[float, bool] | None:
    """The dummy baseline's score on the live metric from a run's metrics.json, and whether higher is better."""
    for baseline in (metrics or {}).get("baselines", []):
        scores = baseline.get("test", {})
        if "(dummy)" not in baseline.get("name", ""):
            continue
        if scores.get("accuracy") is not None:
            return float(scores["accuracy"]), True
        if scores.get("mae") is not None:
            return float(scores["mae"]), False
    return None


def coach(
    history: list[dict],
    spec: RunSpec,
    *,
    state: str = "finished",
    diverged: bool = False,
    context: CoachContext | None = None,
) -> list[CoachFinding]:
    """Findings about a run's curves so far (`state` is the run's state; `diverged` from its status), each
    checked against the run its fix would produce (`context`)."""
    if not history:
        return []
    context = context or CoachContext()
    divergence = _divergence(history, spec, diverged=diverged)
    if divergence is not None:
        return _checked([divergence], spec, context)  # the other patterns are meaningless on exploded numbers
    findings = _findings(history, spec)
    if _no_better_than_dummy(history, context):
        # Not the learning rate's fault: no setting makes columns predict what they do not carry.
        findings = [f for f in findings if f.kind not in {"learning_rate_too_low", "plateau"}]
        findings.append(_little_signal(history, context))
    return _checked(findings, spec, context)


def _findings(history: list[dict], spec: RunSpec) -> list[CoachFinding]:
    findings = []
    too_high = _learning_rate_too_high(history, spec)
    if too_high is not None:
        findings.append(too_high)
    overfitting = _overfitting(history, spec)
    if overfitting is not None:
        findings.append(overfitting)
    elif too_high is None:
        for check in (_plateau, _learning_rate_too_low):
            finding = check(history, spec)
            if finding is not None:
                findings.append(finding)
                break
    return findings


def _checked(findings: list[CoachFinding], spec: RunSpec, context: CoachContext) -> list[CoachFinding]:
    """Keep the fixes that produce a new run; say so when the one that made this run is advised again."""
    result = []
    for finding in findings:
        if finding.fix is None:
            result.append(finding)
            continue
        fixed = apply_coach_fix(spec, finding)
        repeated = finding.fix == context.applied_fix or (
            context.applied_fix in LEARNING_RATE_FIXES and finding.fix in LEARNING_RATE_FIXES
        )
        if fixed == spec:
            continue  # nothing left to change (e.g. the learning rate is already at its limit)
        if repeated or (context.previous_spec is not None and fixed == context.previous_spec):
            result.append(_did_not_help(finding, context))
            continue
        result.append(finding)
    return result


def _did_not_help(finding: CoachFinding, context: CoachContext) -> CoachFinding:
    return CoachFinding(
        kind="fix_did_not_help",
        message=t("train.coach.fix_did_not_help", finding=finding.message, tried=_fix_name(context.applied_fix)),
        fix=None,
        fix_label=None,
    )


def _fix_name(fix: str | None) -> str:
    """A fix's name in words ("raise learning rate"); "that change" when unknown."""
    if fix and f"train.coach.fix.{fix}" in message_ids():
        return t(f"train.coach.fix.{fix}")
    return fix.replace("_", " ") if fix else t("train.coach.fix.unknown")


def _best_val_metric(history: list[dict], higher_is_better: bool) -> float | None:
    values = [row.get("val_metric") for row in history if row.get("val_metric") is not None]
    if not values:
        return None
    return max(values) if higher_is_better else min(values)


def _no_better_than_dummy(history: list[dict], context: CoachContext) -> bool:
    if context.dummy_score is None:
        return False
    best = _best_val_metric(history, context.higher_is_better)
    if best is None:
        return False
    if context.higher_is_better:
        return best <= context.dummy_score + SIGNAL_MARGIN
    return best >= context.dummy_score * (1 - SIGNAL_MARGIN)


def _little_signal(history: list[dict], context: CoachContext) -> CoachFinding:
    best = _best_val_metric(history, context.higher_is_better)
    what = t("train.coach.accuracy") if context.higher_is_better else t("train.coach.mae")
    return CoachFinding(
        kind="little_signal",
        message=t("train.coach.little_signal", what=what, best=f"{best:.4g}", dummy=f"{context.dummy_score:.4g}"),
        fix=None,
        fix_label=None,
    )


def apply_coach_fix(spec: RunSpec, finding: CoachFinding) -> RunSpec:
    """The spec with the finding's fix applied (pure: the given spec is unchanged)."""
    if finding.fix is None:
        raise ValueError(f"The coach finding {finding.kind!r} has no fix to apply.")
    payload = spec.model_dump()
    training = payload["training"]
    if finding.fix in {"lower_learning_rate", "raise_learning_rate"}:
        training["learning_rate"] = finding.value
    elif finding.fix == "enable_early_stopping":
        training["early_stopping"] = True
        training["restore_best_weights"] = True
    elif finding.fix == "reduce_on_plateau":
        training["schedule"] = {**training["schedule"], "kind": "reduce_on_plateau"}
    elif finding.fix == "add_dropout":
        payload["model"] = _with_dropout(spec).model_dump()
    elif finding.fix == "add_l2":
        layers = [
            layer.model_copy(update={"l2": L2_PENALTY}) if isinstance(layer, DenseLayer) and not layer.l2 else layer
            for layer in spec.model.layers
        ]
        payload["model"] = spec.model.model_copy(update={"layers": tuple(layers)}).model_dump()
    else:
        raise ValueError(f"Unknown coach fix {finding.fix!r}")
    return parse_spec(payload)


def _with_dropout(spec: RunSpec):
    """A Dropout layer after every Dense layer that is not already followed by one."""
    layers = list(spec.model.layers)
    result = []
    for position, layer in enumerate(layers):
        result.append(layer)
        following = layers[position + 1] if position + 1 < len(layers) else None
        if isinstance(layer, DenseLayer) and not isinstance(following, DropoutLayer):
            result.append(DropoutLayer(rate=DROPOUT_RATE))
    return spec.model.model_copy(update={"layers": tuple(result[:64])})


def _losses(history: list[dict], key: str) -> list[float | None]:
    return [row.get(key) for row in history]


def _divergence(history: list[dict], spec: RunSpec, *, diverged: bool) -> CoachFinding | None:
    losses = _losses(history, "loss")
    broken = next((row["epoch"] for row in history if row.get("loss") is None), None)
    finite = [value for value in losses if value is not None]
    exploded = None
    if finite and len(finite) >= 2:
        start = abs(finite[0]) or 1e-12
        exploded = next(
            (row["epoch"] for row in history if row.get("loss") is not None and row["loss"] > 100.0 * start), None
        )
    if not (diverged or broken or exploded):
        return None
    rate = spec.training.learning_rate
    epoch = broken or exploded or history[-1]["epoch"]
    which = "train.coach.divergence_infinite" if broken else "train.coach.divergence_exploded"
    return CoachFinding(
        kind="divergence",
        message=t(which, epoch=epoch, rate=f"{rate:g}", optimizer=spec.training.optimizer),
        fix="lower_learning_rate",
        fix_label=t("train.coach.label.lower_learning_rate", rate=f"{max(rate / 10, MIN_LEARNING_RATE):g}"),
        value=max(rate / 10, MIN_LEARNING_RATE),
    )


def _learning_rate_too_high(history: list[dict], spec: RunSpec) -> CoachFinding | None:
    losses = [value for value in _losses(history, "loss") if value is not None]
    if len(losses) < 3:
        return None
    rises = sum(1 for before, after in zip(losses, losses[1:], strict=False) if after > before * 1.01)
    rising_from_start = losses[1] > losses[0] * 1.01 and losses[-1] > losses[0]
    oscillating = len(losses) >= 4 and rises * 2 >= len(losses) - 1
    if not (rising_from_start or oscillating):
        return None
    rate = spec.training.learning_rate
    pattern = (
        t("train.coach.rose_from_start")
        if rising_from_start
        else t("train.coach.rose_in", rises=rises, epochs=len(losses) - 1)
    )
    return CoachFinding(
        kind="learning_rate_too_high",
        message=t("train.coach.learning_rate_too_high", pattern=pattern, rate=f"{rate:g}"),
        fix="lower_learning_rate",
        fix_label=t(
            "train.coach.label.lower_learning_rate", rate=f"{max(float(f'{rate / 3:.3g}'), MIN_LEARNING_RATE):g}"
        ),
        value=max(float(f"{rate / 3:.3g}"), MIN_LEARNING_RATE),
    )


def _best_epoch_index(values: list[float | None]) -> int | None:
    finite = [(value, index) for index, value in enumerate(values) if value is not None and math.isfinite(value)]
    return min(finite)[1] if finite else None


def _overfitting(history: list[dict], spec: RunSpec) -> CoachFinding | None:
    val, train = _losses(history, "val_loss"), _losses(history, "loss")
    best = _best_epoch_index(val)
    if best is None or len(history) - 1 - best < OVERFIT_EPOCHS:
        return None
    last_val, last_train = val[-1], train[-1]
    if last_val is None or last_train is None or train[best] is None:
        return None
    if last_val < val[best] * (1 + OVERFIT_RISE) or last_train >= train[best]:
        return None
    since = len(history) - 1 - best
    message = t(
        "train.coach.overfitting",
        epoch=history[best]["epoch"],
        train_best=f"{train[best]:.4g}",
        train_last=f"{last_train:.4g}",
        val_best=f"{val[best]:.4g}",
        val_last=f"{last_val:.4g}",
        since=since,
    )
    fix, label = _overfitting_fix(spec)
    return CoachFinding(kind="overfitting", message=message, fix=fix, fix_label=label)


def _overfitting_fix(spec: RunSpec) -> tuple[str, str]:
    layers = spec.model.layers
    dense = [layer for layer in layers if isinstance(layer, DenseLayer)]
    if dense and not any(isinstance(layer, DropoutLayer) for layer in layers) and len(layers) + len(dense) <= 64:
        return "add_dropout", t("train.coach.label.add_dropout", rate=f"{DROPOUT_RATE:g}")
    if any(not layer.l2 for layer in dense):
        return "add_l2", t("train.coach.label.add_l2", penalty=f"{L2_PENALTY:g}")
    return "enable_early_stopping", t("train.coach.label.early_stopping_keep_best")


def _plateau(history: list[dict], spec: RunSpec) -> CoachFinding | None:
    val = _losses(history, "val_loss")
    best = _best_epoch_index(val)
    if best is None or len(history) - 1 - best < PLATEAU_EPOCHS:
        return None
    recent = [value for value in val[best + 1 :] if value is not None]
    if not recent or max(recent) > val[best] * (1 + PLATEAU_FLAT):
        return None
    stalled = len(history) - 1 - best
    params = {"stalled": stalled, "best": f"{val[best]:.4g}", "epoch": history[best]["epoch"]}
    if spec.training.schedule.kind == "constant":
        return CoachFinding(
            kind="plateau",
            message=t("train.coach.plateau_schedule", **params),
            fix="reduce_on_plateau",
            fix_label=t("train.coach.label.reduce_on_plateau"),
        )
    if not spec.training.early_stopping:
        return CoachFinding(
            kind="plateau",
            message=t("train.coach.plateau_early_stopping", **params),
            fix="enable_early_stopping",
            fix_label=t("train.coach.label.early_stopping"),
        )
    return None


def _learning_rate_too_low(history: list[dict], spec: RunSpec) -> CoachFinding | None:
    losses = [value for value in _losses(history, "loss") if value is not None]
    if len(losses) < SLOW_EPOCHS:
        return None
    steadily = all(after < before for before, after in zip(losses, losses[1:], strict=False))
    total_drop = (losses[0] - losses[-1]) / (abs(losses[0]) or 1e-12)
    if not steadily or total_drop >= SLOW_TOTAL_DROP:
        return None
    rate = spec.training.learning_rate
    new_rate = min(rate * 10, 10.0)
    return CoachFinding(
        kind="learning_rate_too_low",
        message=t("train.coach.learning_rate_too_low", drop=f"{total_drop:.1%}", epochs=len(losses), rate=f"{rate:g}"),
        fix="raise_learning_rate",
        fix_label=t("train.coach.label.raise_learning_rate", rate=f"{new_rate:g}"),
        value=new_rate,
    )
