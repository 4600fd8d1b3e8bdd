"""Dataset kinds: what a run needs from its kind of data, across the lifecycle, looked up by `DataSpec.kind`.

A kind (`table`, `images`, `text`) answers the same questions for every run: profile the data,
split it and fit preprocessing on the training rows only, feed batches to `fit`, describe the input part of the
network, wrap the trained network into the model users download (raw inputs in, preprocessing inside), and
write its fitted preprocessing for the exports. The training job, the CLI and the pages ask the registry;
none of them tests what kind of data it holds. docs/ARCHITECTURE.md, "Adding a kind of data", is the recipe.
"""

from __future__ import annotations

from core.errors import SpecError
from core.i18n import t
from core.kinds.base import DatasetKind, ModelInput
from core.kinds.images import ImagesKind
from core.kinds.table import TableKind
from core.kinds.text import TextKind

DATASET_KINDS: dict[str, DatasetKind] = {kind.name: kind for kind in (TableKind(), ImagesKind(), TextKind())}


def dataset_kind(name: str) -> DatasetKind:
    """The kind registered under `name` (a `DataSpec.kind`)."""
    try:
        return DATASET_KINDS[name]
    except KeyError:
        known = ", ".join(sorted(DATASET_KINDS))
        raise SpecError(t("model.spec.unknown_kind", name=repr(name), known=known), field="data.kind") from None


__all__ = ["DATASET_KINDS", "DatasetKind", "ModelInput", "dataset_kind"]
