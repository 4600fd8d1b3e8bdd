"""The dataset-kind seam: a run asks the registry for every kind-specific step (core/kinds)."""

from __future__ import annotations

import pytest

import core.kinds
from core.errors import SpecError
from core.kinds import DATASET_KINDS, ModelInput, dataset_kind
from core.kinds.table import TableKind
from core.spec import DataSpec, RunSpec
from tests.conftest import make_binary_frame, train_small_run


def test_a_table_is_the_default_kind_and_is_registered():
    assert DataSpec(target="y").kind == "table"
    assert isinstance(dataset_kind("table"), TableKind)
    assert set(DATASET_KINDS) == {"table", "images", "text"}


def test_an_unknown_kind_is_refused_by_the_spec_and_by_the_registry():
    with pytest.raises(ValueError):
        RunSpec.model_validate({"data": {"target": "y", "kind": "audio"}})
    with pytest.raises(SpecError, match="does not know the data kind 'audio'.*table"):
        dataset_kind("audio")


def test_model_input_arguments_for_a_flat_table_and_for_images():
    assert ModelInput(num_inputs=7).build_arguments() == {"embeddings": (), "input_kind": "tabular"}
    image = ModelInput(num_inputs=784, input_shape=(28, 28, 1), input_kind="image")
    assert image.build_arguments()["input_shape"] == (28, 28, 1)


class RecordingKind(TableKind):
    """The table kind, noting which of its operations a run used."""

    def __init__(self):
        self.calls: list[str] = []

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if callable(attribute) and not name.startswith("_"):
            super().__getattribute__("calls").append(name)
        return attribute


@pytest.mark.slow
def test_a_training_run_takes_every_kind_specific_step_from_the_registry(tmp_path, tmp_home, monkeypatch):
    recording = RecordingKind()
    monkeypatch.setitem(core.kinds.DATASET_KINDS, "table", recording)
    store, run_id = train_small_run(tmp_path / "runs", make_binary_frame(200), epochs=2)
    assert store.status(run_id).state == "finished"
    for operation in (
        "load",
        "prepare",
        "preprocessing_record",
        "model_input",
        "fit_arguments",
        "predict",
        "baselines",
    ):
        assert operation in recording.calls, (operation, recording.calls)
    import keras

    if keras.backend.backend() == "tensorflow":
        assert "serving_model" in recording.calls
