"""Shared fixtures: tiny frames built in code with seeded randomness, and an isolated LAYERLAB_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Every job manager a test opens (pages, fixtures, servers) starts a worker per queued run rather than keeping
# idle ones warm: each idle worker imports Keras again after every run (about 4 s of CPU and 1 GB held) in
# a suite that trains hundreds of runs. tests/unit/test_jobs.py covers the warm default.
os.environ.setdefault("LAYERLAB_WARM_WORKERS", "0")
# …and a worker trains up to 25 runs before it exits instead of one (LAYERLAB_WORKER_RUNS): the suite's
# page tests train dozens of runs, each of which would otherwise import Keras in a fresh process (about 4 s of
# CPU on a 2-core machine that is the suite's bottleneck). tests/unit/test_jobs.py covers the default of one.
os.environ.setdefault("LAYERLAB_WORKER_RUNS", "25")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"  # the hostile-input corpus and datasets, beside the checkout


def pytest_configure(config):
    """Under CI=true the tests that read ../shared must run: its absence fails the run instead of skipping them."""
    if (
        os.environ.get("CI", "").lower() in {"1", "true", "yes"}
        and not (SHARED / "bad_inputs" / "MANIFEST.json").exists()
    ):
        raise pytest.UsageError(
            f"CI=true but {SHARED / 'bad_inputs'} is missing: the bad-input tests would be skipped. "
            "Check out ../shared beside the repository (or unset CI for a local run without it)."
        )


@pytest.fixture(autouse=True)
def english_unless_a_test_says_otherwise(monkeypatch):
    """Every test starts in English with no LAYERLAB_LANG, whatever a test before it in this process chose."""
    from core import i18n

    monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
    monkeypatch.setattr(i18n, "_DEFAULT_FROM_ENVIRONMENT", i18n.DEFAULT_LANGUAGE)
    token = i18n._language.set(i18n.DEFAULT_LANGUAGE)
    yield
    try:
        i18n._language.reset(token)
    except ValueError:  # set in another context (a thread): nothing of ours to undo
        pass


@pytest.fixture
def tmp_home(tmp_path, monkeypatch) -> Path:
    """A fresh LAYERLAB_HOME for one test, so no test sees another's runs or the developer's."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    monkeypatch.delenv("LAYERLAB_SHARED", raising=False)
    return home


def make_binary_frame(num_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Two informative numeric columns (with NaN and inf), a noisy one, a colour category with gaps,
    and a text target ("no"/"yes") that a small network learns well."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=num_rows)
    x2 = rng.normal(loc=5.0, scale=2.0, size=num_rows)
    noise = rng.uniform(-1, 1, size=num_rows)
    colour = rng.choice(["red", "green", "blue"], size=num_rows, p=[0.5, 0.3, 0.2]).astype(object)
    score = 2.0 * x1 + (x2 - 5.0) + np.where(colour == "red", 1.0, -0.5)
    label = np.where(score > 0.2, "yes", "no").astype(object)
    x1[::37] = np.nan
    x2[5::41] = np.inf
    x2[9::53] = -np.inf
    colour[3::29] = None
    return pd.DataFrame({"x1": x1, "x2": x2, "noise": noise, "colour": colour, "label": label})


def make_regression_frame(num_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """An easy linear target in units far from 0/1, so forgetting to undo the scaling shows."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=num_rows)
    b = rng.uniform(0, 10, size=num_rows)
    size = rng.choice(["small", "large"], size=num_rows).astype(object)
    price = 100.0 + 30.0 * a + 5.0 * b + np.where(size == "large", 20.0, 0.0) + rng.normal(scale=1.0, size=num_rows)
    return pd.DataFrame({"a": a, "b": b, "size": size, "price": price})


def make_multiclass_frame(num_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three well-separated text classes from two numeric columns."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["setosa", "versicolor", "virginica"], size=num_rows)
    centres = {"setosa": (0.0, 0.0), "versicolor": (3.0, 0.0), "virginica": (0.0, 3.0)}
    centre = np.array([centres[name] for name in species])
    points = centre + rng.normal(scale=0.5, size=(num_rows, 2))
    return pd.DataFrame({"length": points[:, 0], "width": points[:, 1], "species": species.astype(object)})


@pytest.fixture
def small_binary_frame() -> pd.DataFrame:
    return make_binary_frame()


@pytest.fixture
def small_regression_frame() -> pd.DataFrame:
    return make_regression_frame()


@pytest.fixture
def small_multiclass_frame() -> pd.DataFrame:
    return make_multiclass_frame()


def train_small_run(
    runs_root: Path, frame: pd.DataFrame, target: str = "label", *, source_name: str = "t.csv", **training
):
    """A finished run of a one-layer network (Dense 8) on `frame`, trained in this process.

    `training` overrides `TrainingSpec` fields (default: 3 epochs at learning rate 0.02). Returns the
    store and the run id."""
    from core.run_store import RunStore
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
    from core.training.run_job import run_job

    store = RunStore(Path(runs_root))
    spec = RunSpec(
        data=DataSpec(target=target),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(**{"epochs": 3, "learning_rate": 0.02, **training}),
    )
    run_id = store.create_run(spec, frame, source_name=source_name)
    assert run_job(store, run_id).state == "finished"
    return store, run_id
