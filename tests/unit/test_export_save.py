"""Every preprocessing option survives `model.save` and loads back in safe mode with the same output.

The parity tests compare the in-memory graph with numpy; this catches options whose graph cannot be saved
(an op built with numpy scalars is not serialisable), which would fail a run at "Saving the model"."""

import keras
import numpy as np
import pytest

from core.data.preprocessing import fit_preprocessing
from core.deployment.serving_model import build_preprocessing_model, model_inputs
from core.spec import ColumnSpec, PreprocessingSpec
from tests.unit.test_preprocessing_options import CATEGORY_OPTIONS, NUMERIC_OPTIONS, frame


def saved_and_loaded(model, tmp_path):
    path = tmp_path / "preprocessing.keras"
    model.save(path)
    return keras.models.load_model(path, safe_mode=True)


@pytest.mark.parametrize(
    ("column", "options"),
    [("amount", options) for options in NUMERIC_OPTIONS]
    + [("size", options) for options in CATEGORY_OPTIONS]
    + [("when", {"kind": "datetime", "missing_indicator": True})],
    ids=str,
)
def test_every_option_saves_and_loads_with_the_same_output(column, options, tmp_path):
    data = frame()
    spec = PreprocessingSpec(columns=(ColumnSpec(name=column, **options),))
    state = fit_preprocessing(data.iloc[:150], [column], max_categories=50, spec=spec)
    model = build_preprocessing_model(state)
    rows = data.iloc[150:]
    before = keras.ops.convert_to_numpy(model(model_inputs(model, rows)))
    loaded = saved_and_loaded(model, tmp_path)
    after = keras.ops.convert_to_numpy(loaded(model_inputs(loaded, rows)))
    np.testing.assert_array_equal(after, before)
