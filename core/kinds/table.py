"""The `table` kind: a CSV, Excel, Parquet or JSON table with one column to predict."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.data.feeding import fit_data, predict_rows
from core.data.preprocessing import estimate_preprocessing
from core.data.profiling import profile_frame
from core.data.splitting import prepare_data, prepare_fold
from core.deployment.serving_model import build_serving_model
from core.evaluation.baselines import compare_baselines
from core.kinds.base import ModelInput


class TableKind:
    """Rows and columns: numbers, categories and dates encoded into one float32 row per example."""

    name = "table"

    def load(self, store, run_id: str):
        return store.table(run_id)

    def profile(self, source, target: str | None):
        return profile_frame(source, target)

    def prepare(self, source, data_spec, preprocessing_spec, model_spec=None):
        return prepare_data(source, data_spec, preprocessing_spec)

    def prepare_fold(self, prepared, fold: int, preprocessing_spec):
        return prepare_fold(prepared, fold, preprocessing_spec)

    def model_input(self, prepared) -> ModelInput:
        state = prepared.preprocessing
        return ModelInput(num_inputs=prepared.num_features, embeddings=state.embeddings(), periodic=state.periodic())

    def preview_input(self, source, spec, info: dict | None = None) -> ModelInput:
        features = list(spec.data.features) or [c for c in source.columns if c != spec.data.target]
        estimated = estimate_preprocessing(source, features, spec.preprocessing)
        return ModelInput(
            num_inputs=estimated.num_features, embeddings=estimated.embeddings(), periodic=estimated.periodic()
        )

    def fit_arguments(self, prepared, batch_size: int, *, multiple_of: int = 1) -> dict[str, Any]:
        return fit_data(prepared, batch_size, multiple_of=multiple_of)

    def predict(self, network, prepared, split: str) -> np.ndarray:
        return predict_rows(network, getattr(prepared, f"encoded_{split}"))

    def baselines(self, prepared, seed: int) -> list[dict]:
        return compare_baselines(prepared, seed)

    def held_out_rows(self, prepared):
        return None  # re-split from the stored table when the Evaluate page first asks (most runs never do)

    def preprocessing_record(self, prepared) -> str:
        return prepared.preprocessing.to_json()

    def serving_model(self, network, prepared_preprocessing, target, *, threshold: float = 0.5):
        return build_serving_model(network, prepared_preprocessing, target, threshold=threshold)
