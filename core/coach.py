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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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


@dataclass(frozen=True, slots=True)
class CoachFinding:
    """One observation about a run, and the one change that addresses it.

    kind: divergence, overfitting, learning_rate_too_high, learning_rate_too_low or plateau.
    fix: lower_learning_rate, raise_learning_rate, add_dropout, add_l2, enable_early_stopping or reduce_on_plateau.
    value: the new learning rate, for the learning-rate fixes.
    """

    kind: str
    message: str
    fix: str
    fix_label: str
    value: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def coach(history: list[dict], spec: RunSpec, *, state: str = "finished", diverged: bool = False) -> list[CoachFinding]:
    """Findings about a run's curves so far (`state` is the run's state; `diverged` from its status)."""
    if not history:
        return []
    divergence = _divergence(history, spec, diverged=diverged)
    if divergence is not None:
        return [divergence]  # the other patterns are meaningless on exploded numbers
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


def apply_coach_fix(spec: RunSpec, finding: CoachFinding) -> RunSpec:
    """The spec with the finding's fix applied (pure: the given spec is unchanged)."""
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
    what = "became infinite or not a number" if broken else "exploded"
    return CoachFinding(
        kind="divergence",
        message=(
            f"Training diverged: the loss {what} in epoch {epoch}. The learning rate ({rate:g}) is too high for "
            f"{spec.training.optimizer}: each update overshoots and the weights blow up. The run was stopped and "
            "kept its best weights so far, but a run with a learning rate ten times lower will learn properly."
        ),
        fix="lower_learning_rate",
        fix_label=f"Lower the learning rate to {max(rate / 10, MIN_LEARNING_RATE):g}",
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
    pattern = "went up from the start" if rising_from_start else f"rose in {rises} of {len(losses) - 1} epochs"
    return CoachFinding(
        kind="learning_rate_too_high",
        message=(
            f"The training loss {pattern} instead of falling steadily: the learning rate ({rate:g}) is probably "
            "too high, so each update jumps past the good weights."
        ),
        fix="lower_learning_rate",
        fix_label=f"Lower the learning rate to {max(float(f'{rate / 3:.3g}'), MIN_LEARNING_RATE):g}",
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
    message = (
        f"Overfitting: since epoch {history[best]['epoch']} the training loss kept falling "
        f"({train[best]:.4g} → {last_train:.4g}) while the validation loss rose ({val[best]:.4g} → {last_val:.4g}) "
        f"for {since} epochs. The network is memorising the training rows instead of learning what carries over "
        "to new ones."
    )
    fix, label = _overfitting_fix(spec)
    return CoachFinding(kind="overfitting", message=message, fix=fix, fix_label=label)


def _overfitting_fix(spec: RunSpec) -> tuple[str, str]:
    layers = spec.model.layers
    dense = [layer for layer in layers if isinstance(layer, DenseLayer)]
    if dense and not any(isinstance(layer, DropoutLayer) for layer in layers) and len(layers) + len(dense) <= 64:
        return "add_dropout", f"Add Dropout ({DROPOUT_RATE:g}) after each Dense layer"
    if any(not layer.l2 for layer in dense):
        return "add_l2", f"Add an L2 weight penalty ({L2_PENALTY:g}) to the Dense layers"
    return "enable_early_stopping", "Turn on early stopping (keep the best epoch's weights)"


def _plateau(history: list[dict], spec: RunSpec) -> CoachFinding | None:
    val = _losses(history, "val_loss")
    best = _best_epoch_index(val)
    if best is None or len(history) - 1 - best < PLATEAU_EPOCHS:
        return None
    recent = [value for value in val[best + 1 :] if value is not None]
    if not recent or max(recent) > val[best] * (1 + PLATEAU_FLAT):
        return None
    stalled = len(history) - 1 - best
    message = (
        f"Plateau: the validation loss has not improved for {stalled} epochs (best {val[best]:.4g} in epoch "
        f"{history[best]['epoch']}). More epochs at this learning rate will not help."
    )
    if spec.training.schedule.kind == "constant":
        return CoachFinding(
            kind="plateau",
            message=message + " Lowering the learning rate when progress stalls often squeezes out a little more.",
            fix="reduce_on_plateau",
            fix_label="Lower the learning rate on plateaus (reduce-on-plateau schedule)",
        )
    if not spec.training.early_stopping:
        return CoachFinding(
            kind="plateau",
            message=message + " Early stopping would end such runs by itself and keep the best weights.",
            fix="enable_early_stopping",
            fix_label="Turn on early stopping",
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
        message=(
            f"The training loss falls every epoch but barely moves ({total_drop:.1%} in {len(losses)} epochs): the "
            f"learning rate ({rate:g}) is probably too low, so each update is a tiny step."
        ),
        fix="raise_learning_rate",
        fix_label=f"Raise the learning rate to {new_rate:g}",
        value=new_rate,
    )
