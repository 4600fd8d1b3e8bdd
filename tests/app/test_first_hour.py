"""The first hour of a non-coder (issue 13): one-click fixes that stick, a new table that starts afresh, pages
that agree with each other, a target that is asked for, and files that are not tables named as such."""

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.data.profiling import profile_frame
from core.data.quality import apply_fix, assess_quality
from core.run_store import RunStore, write_json
from core.spec import ColumnSpec, DataSpec, DenseLayer, ModelSpec, PreprocessingSpec, RunSpec, TrainingSpec
from tests.app.test_pages import APP, RUN_TIMEOUT_S, texts, wait_for_run


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S)


def upload(at: AppTest, frame: pd.DataFrame, name: str) -> None:
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value((name, frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception


def messy_frame(rows: int = 240) -> pd.DataFrame:
    """Duplicates, a rare class, numbers mixed with text, a customer column that groups rows."""
    rng = np.random.default_rng(0)
    amounts = [str(value) if i % 9 else "about 5" for i, value in enumerate(rng.integers(1, 50, rows))]
    frame = pd.DataFrame(
        {
            "customer": np.repeat([f"c{i}" for i in range(rows // 12)], 12),
            "x": rng.integers(0, 4, rows),
            "amount": amounts,
            "label": np.where(rng.random(rows) < 0.1, "rare", "common"),
        }
    )
    return pd.concat([frame, frame.head(30)], ignore_index=True)


def spec_of(at: AppTest) -> RunSpec:
    return at.session_state["layerlab"].run_spec()


@pytest.mark.parametrize(
    "label", ["Drop duplicate rows", "Use balanced class weights", "Treat 'amount' as numeric", "Keep rows of each"]
)
def test_every_quality_fix_reaches_the_spec_the_next_run_uses(app_env, label):
    at = new_app()
    upload(at, messy_frame(), "messy.csv")
    at.switch_page("pages/prepare.py").run()
    before = spec_of(at)
    button = next(b for b in at.button if str(b.label).replace("\\", "").startswith(label))
    expected = None
    frame = at.session_state["layerlab"].frame_cache
    for finding in assess_quality(frame, before, profile=profile_frame(frame, before.data.target)):
        for fix in finding.fixes:
            if fix.label.startswith(label):
                expected = apply_fix(before, fix)
    assert expected is not None and expected != before
    button.click().run()
    assert not at.exception, at.exception
    at.run()  # the next run: no widget's old value may overwrite the fix
    assert spec_of(at) == expected
    assert at.checkbox(key="prepare.drop_duplicates").value == expected.data.drop_duplicates
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert spec_of(at) == expected
    if "class weights" in label:
        assert at.selectbox(key="train.class_weight").value == "balanced"
    at.switch_page("pages/prepare.py").run()
    assert spec_of(at) == expected
    assert at.checkbox(key="prepare.drop_duplicates").value == expected.data.drop_duplicates
    shown_group = at.selectbox(key="prepare.group_column").value
    assert shown_group == expected.data.group_column


def test_doctor_fix_of_a_training_setting_reaches_the_train_page(app_env):
    at = new_app()
    upload(at, messy_frame(), "messy.csv")
    at.switch_page("pages/train.py").run()
    at.number_input(key="train.learning_rate").set_value(0.9).run()
    at.number_input(key="train.batch_size").set_value(4096).run()
    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    for key in ("model.fix.learning_rate.", "model.fix.batch_too_large."):
        at.button(key=key).click().run()
        assert not at.exception, at.exception
    at.run()
    fixed = spec_of(at).training
    assert fixed.learning_rate < 0.9 and fixed.batch_size < 4096
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="train.learning_rate").value == fixed.learning_rate
    assert at.number_input(key="train.batch_size").value == fixed.batch_size
    assert spec_of(at).training == fixed


@pytest.fixture
def coach_home(app_env, tmp_path_factory, monkeypatch):
    home = tmp_path_factory.getbasetemp() / "first_hour_coach_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    return home


def test_coach_fix_starts_a_run_with_it_and_the_next_run_keeps_it(coach_home):
    store = RunStore(coach_home / "runs")
    rng = np.random.default_rng(3)
    x = rng.normal(size=120)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=120), "label": np.where(x > 0, "yes", "no")})
    spec = RunSpec(
        data=DataSpec(target="label"),
        model=ModelSpec(layers=(DenseLayer(units=4),)),
        training=TrainingSpec(epochs=1, batch_size=32, learning_rate=0.5, early_stopping=False),
    )
    run_id = store.create_run(spec, frame, source_name="small.csv")
    history = [{"epoch": 1, "loss": 0.7, "val_loss": 0.7}, {"epoch": 2, "loss": 900.0, "val_loss": 950.0}]
    write_json(store.path(run_id) / "history.json", history)
    store.set_status(run_id, "finished", "Finished all 2 epochs.")

    at = new_app()
    upload(at, frame, "small.csv")
    at.session_state["layerlab"].run_id = run_id
    at.switch_page("pages/train.py").run()
    at.number_input(key="train.learning_rate").set_value(0.5).run()  # the widget holds its own value now
    at.button(key=f"train.coach.{run_id}.divergence").click().run()
    assert not at.exception, at.exception
    new_id = at.session_state["layerlab"].run_id
    assert new_id != run_id
    assert store.spec(new_id).training.learning_rate == pytest.approx(0.05)
    at.run()
    assert at.number_input(key="train.learning_rate").value == pytest.approx(0.05)
    assert spec_of(at).training == store.spec(new_id).training
    assert wait_for_run(at) in {"finished", "stopped", "failed"}


def other_frame(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.normal(size=rows)
    return pd.DataFrame({"size": x, "weight": rng.normal(size=rows), "target": np.where(x > 0, "big", "small")})


def test_a_new_table_starts_from_defaults_and_the_page_says_so(app_env):
    at = new_app()
    upload(at, messy_frame(), "messy.csv")
    at.switch_page("pages/prepare.py").run()
    for label in ("Drop duplicate rows", "Treat 'amount' as numeric"):
        next(b for b in at.button if str(b.label).startswith(label)).click().run()
    at.slider(key="prepare.test_fraction").set_value(0.3).run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train.class_weight").set_value("balanced").run()
    at.number_input(key="train.learning_rate").set_value(0.01).run()
    at.number_input(key="train.epochs").set_value(3).run()
    assert spec_of(at).training.class_weight == "balanced"

    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data.upload").set_value(("other.csv", other_frame().to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert any("New table: its settings start from their defaults" in info.value for info in at.info)
    spec = spec_of(at)
    assert spec.training == TrainingSpec()
    assert spec.preprocessing == PreprocessingSpec() and spec.model == ModelSpec()
    defaults = DataSpec(target="target")
    assert (spec.data.drop_duplicates, spec.data.test_fraction) == (defaults.drop_duplicates, defaults.test_fraction)
    at.run()
    assert not any("New table" in info.value for info in at.info)  # said once
    at.switch_page("pages/train.py").run()
    assert at.selectbox(key="train.class_weight").value == "none"
    assert at.number_input(key="train.learning_rate").value == TrainingSpec().learning_rate
    at.switch_page("pages/prepare.py").run()
    assert at.slider(key="prepare.test_fraction").value == defaults.test_fraction
    assert not at.checkbox(key="prepare.drop_duplicates").value


def test_the_data_page_agrees_with_prepare_and_keeps_the_upload_source(app_env):
    at = new_app()
    upload(at, messy_frame(), "messy.csv")
    assert "from 3 column(s)" in texts(at)
    at.switch_page("pages/prepare.py").run()
    at.switch_page("pages/data.py").run()
    assert at.radio(key="data.source").value == "Upload a file"  # not back to "Sample data"
    assert "messy.csv" in at.subheader[0].value  # the table in use, not a sample's description
    at.switch_page("pages/prepare.py").run()
    # Ignore 'x' as the column form's role choice does (AppTest cannot edit a data editor's cells).
    at.session_state["layerlab"].preprocessing = PreprocessingSpec(columns=(ColumnSpec(name="x", role="ignore"),))
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    features = next(m for m in at.multiselect if str(m.key).startswith("data.features."))
    assert "x" not in features.value
    assert "from 2 column(s)" in texts(at)
    assert "Ignored on the Prepare page: x" in texts(at)
    assert spec_of(at).preprocessing.column("x").role == "ignore"
    features.select("x").run()  # taking it back on the Data page takes the ignore off
    assert spec_of(at).preprocessing.column("x").role == "feature"
    assert "from 3 column(s)" in texts(at)


def test_the_target_is_guessed_and_asked_or_left_to_choose(app_env):
    at = new_app()
    upload(at, other_frame(), "other.csv")
    target_box = next(s for s in at.selectbox if str(s.key).startswith("data.target."))
    assert target_box.value == "target"
    assert any("LayerLab guessed **target**" in info.value for info in at.info)

    rng = np.random.default_rng(8)
    unclear = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80), "c": rng.normal(size=80)})
    upload(at, unclear, "unclear.csv")
    target_box = next(s for s in at.selectbox if str(s.key).startswith("data.target."))
    assert target_box.value is None and target_box.placeholder == "Choose the column to predict"
    assert any("Which column should the model learn to predict?" in info.value for info in at.info)
    assert at.session_state["layerlab"].target is None
    target_box.set_value("c").run()
    assert not at.exception, at.exception
    assert "Predict **c** (regression) from 2 column(s)." in texts(at)
    assert not any("guessed" in info.value for info in at.info)


def test_a_zip_of_broken_images_gets_our_message_and_free_text_is_read_as_text(app_env):
    at = new_app()
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    assert not at.file_uploader(key="data.upload").proto.type  # any file reaches our reading, zips included
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(3):
            archive.writestr(f"cats/{number}.jpg", b"\xff\xd8\xff\xe0")  # a JPEG header and nothing else
    at.file_uploader(key="data.upload").set_value(("cats.zip", buffer.getvalue(), "application/zip"))
    at.run()
    assert not at.exception, at.exception
    assert at.error and "Traceback" not in at.error[0].value  # said in a sentence: no image in it can be read

    rng = np.random.default_rng(4)
    words = ["service", "was", "slow", "friendly", "staff", "great", "food", "cold", "would", "return", "never"]
    reviews = [" ".join(rng.choice(words, 12)) + f" visit {i}" for i in range(150)]
    frame = pd.DataFrame({"review": reviews, "stars": rng.integers(1, 6, 150), "label": rng.choice(["a", "b"], 150)})
    upload(at, frame, "reviews.csv")
    state = at.session_state["layerlab"]
    assert state.kind == "text"  # the free-text column is read as text, not as categories
    assert any("review" in info.value and "holds free text" in info.value for info in at.info)
    at.radio(key=f"data.read_as.{state.table_key}").set_value("table").run()
    assert "Free text: review. Read as a table, a text column is used as categories" in texts(at)
    at.switch_page("pages/prepare.py").run()
    warning = next(w.value for w in at.warning if "review" in w.value)
    assert "holds free text" in warning and "read the table as text" in warning
