"""Chinese (and Japanese) data everywhere: GBK/GB18030, Big5, Shift-JIS and UTF-16 files are read with their names
intact (charset-normalizer ranks the East Asian encodings), the guess is recorded and can be overridden; numbers
written as １２３, 1,234.5 or 12.3% are numbers (the rule in table_rules.py, applied by load_table and read_rows);
是/否-style columns are categories; and a Big5, GBK or UTF-16 table with Chinese headers and labels trains, exports
(.keras, generated script, ONNX zip) and predicts with its names intact, into a CSV that Excel opens (UTF-8 + BOM)."""

from __future__ import annotations

import codecs
import importlib.util
import json
import runpy
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.data import table_rules
from core.data.portable_reading import read_rows
from core.data.profiling import infer_task, profile_frame, treated_as
from core.data.reading import ENCODING_CHOICES, encoding_label, load_table
from core.errors import DataError
from tests.unit.test_one_preprocessing import _layerlab_predict, _probabilities

SIMPLIFIED = (
    "城市,性别,年龄,收入,是否购买\n北京,男,34,5200,是\n上海,女,28,6100,否\n广州,男,45,4800,是\n深圳,女,39,7300,否\n"
)
TRADITIONAL = (
    "城市,性別,年齡,收入,是否購買\n臺北,男,34,5200,是\n高雄,女,28,6100,否\n臺中,男,45,4800,是\n新竹,女,39,7300,否\n"
)
JAPANESE = "都市,性別,年齢,収入,購入\n東京,男性,34,5200,はい\n大阪,女性,28,6100,いいえ\n京都,男性,45,4800,はい\n"


def _header(text: str) -> list[str]:
    return text.split("\n", 1)[0].split(",")


@pytest.mark.parametrize(
    ("text", "codec", "expected"),
    [
        (SIMPLIFIED, "gbk", "gb18030"),
        (SIMPLIFIED, "gb18030", "gb18030"),
        (TRADITIONAL, "big5", "big5"),
        (TRADITIONAL, "cp950", "big5"),
        (JAPANESE, "shift_jis", "shift_jis"),
        (SIMPLIFIED, "utf-16-le", "utf-16-le"),  # no byte order mark, and mostly Chinese (few NUL bytes)
        (TRADITIONAL, "utf-16-be", "utf-16-be"),
        (TRADITIONAL, "utf-16", "utf-16"),  # with a byte order mark
        ("性別,是否\n男,是\n女,否\n", "big5", "big5"),  # a few words only
        ("性别,是否\n男,是\n女,否\n", "gbk", "gb18030"),
    ],
)
def test_east_asian_encodings_are_detected_with_names_and_labels_intact(text, codec, expected):
    table = load_table(text.encode(codec), "table.csv")
    assert table.encoding == expected and table.reading()["encoding"] == expected
    assert list(table.frame.columns) == _header(text)
    labels = [line.split(",")[-1] for line in text.strip().split("\n")[1:]]
    assert table.frame.iloc[:, -1].tolist() == labels
    assert any(encoding_label(expected) in note for note in table.notes)


@pytest.mark.parametrize("text", ["city\nKöln\n", "x;y\nÄl;1\nÖl;2\n", "ville,prix\nBesançon,3\nOrléans,4\n"])
def test_short_western_text_is_not_mistaken_for_big5_or_gbk(text):
    table = load_table(text.encode("cp1252"), "cities.csv")
    assert table.encoding == "cp1252"
    assert table.frame.iloc[0, 0] == text.split("\n")[1].split(table.delimiter)[0]  # "Köln", not an ideograph


def test_the_choices_include_big5_and_an_override_rereads_the_file():
    assert {"utf-8", "gb18030", "big5", "shift_jis", "utf-16", "cp1252", "latin-1"} <= set(ENCODING_CHOICES)
    data = TRADITIONAL.encode("big5")
    forced = load_table(data, "table.csv", encoding="big5")
    assert list(forced.frame.columns) == _header(TRADITIONAL) and forced.reading()["encoding"] == "big5"
    assert any("as you chose" in note for note in forced.notes)
    # A wrong choice that still decodes gives other characters (the person sees them and picks again) ...
    wrong = load_table(data, "table.csv", encoding="gb18030")
    assert list(wrong.frame.columns) != _header(TRADITIONAL) and wrong.encoding == "gb18030"
    # ... and one that does not decode is a message, never a half-read table.
    with pytest.raises(DataError, match="not valid UTF-8 text"):
        load_table(data, "table.csv", encoding="utf-8")
    # Windows' Big5 (code page 950) has characters plain Big5 lacks: choosing "big5" still reads it.
    extended = "名稱,價格\n碁,€5\n".encode("cp950")
    assert load_table(extended, "table.csv", encoding="big5").frame.iloc[0, 0] == "碁"


def test_full_width_digits_thousands_separators_and_percentages_are_numbers():
    text = (
        "城市,人数,收入,比例,编号,混合\n"
        '北京,１２３,"1,234.5",12.3%,001,1%\n'
        '上海,４５,"12,000",5%,002,3\n'
        '广州,,"999",0.5%,003,x\n'
    )
    traditional = text.replace("人数", "人數").replace("编号", "編號").replace("广州", "廣州")
    for data in (text.encode("gbk"), traditional.encode("big5"), text.encode("utf-8")):
        table = load_table(data, "numbers.csv")
        frame = table.frame
        assert frame.iloc[:, 1].tolist()[:2] == [123.0, 45.0] and np.isnan(frame.iloc[2, 1])
        assert frame["收入"].tolist() == [1234.5, 12000.0, 999.0]
        np.testing.assert_allclose(frame["比例"], [0.123, 0.05, 0.005])
        assert pd.api.types.is_string_dtype(frame["混合"])  # not every value is a number: stays text
        assert any("full-width digits" in note for note in table.notes)


def test_the_number_rule_lives_in_table_rules_and_read_rows_applies_it(tmp_path):
    assert "def formatted_numbers(" in table_rules.shipped_source()
    rule = table_rules.formatted_numbers
    assert rule(pd.Series(["１，２３４．５", "－３"])).tolist() == [1234.5, -3.0]
    assert rule(pd.Series(["12.3%", "7"])) is None  # a percent sign on some values only: ambiguous
    assert rule(pd.Series(["1", "2"])) is None  # plain numbers are the reader's job
    assert rule(pd.Series(["1,5", "2"])) is None  # not thousands (a decimal comma is the reader's job)
    text = '城市,收入,比例,是否购买\n北京,"1,234.5",12%,是\n上海,"2,000",8%,否\n广州,３００,1.5%,是\n'
    path = tmp_path / "rows.csv"
    path.write_bytes(text.encode("gbk"))
    loaded = load_table(path.read_bytes(), path.name)
    again = read_rows(str(path), loaded.reading())
    pd.testing.assert_frame_equal(again, loaded.frame, check_dtype=False)


@pytest.mark.parametrize(
    ("values", "labels"),
    [("是否", ("是", "否")), ("男女", ("男", "女")), ("有无", ("有", "无")), ("对错", ("对", "错"))],
)
def test_two_valued_chinese_columns_are_categories(values, labels):
    frame = pd.DataFrame({"x": [labels[i % 2] for i in range(40)], "y": [labels[(i // 2) % 2] for i in range(40)]})
    profile = profile_frame(frame, target="y")
    column = next(column for column in profile.columns if column.name == "x")
    assert column.kind in ("categorical", "boolean") and column.treated_as == "categorical"
    assert treated_as(frame["x"]) == "categorical"
    assert infer_task(frame["y"]) == "binary"
    assert set(values) == set(labels)


# ---------------------------------------------------------------------------------------------- end to end

CITIES = {"big5": ["臺北", "高雄", "臺中", "新竹"], "gbk": ["北京", "上海", "广州", "深圳"]}
HEADERS = {
    "big5": ["城市", "性別", "年齡", "收入", "是否購買"],
    "gbk": ["城市", "性别", "年龄", "收入", "是否购买"],
}
E2E = {"big5": ("big5", "big5"), "gbk": ("gbk", "gb18030"), "utf-16": ("utf-16-le", "utf-16-le")}


def _chinese_table(case: str, num_rows: int = 160, seed: int = 3) -> pd.DataFrame:
    script = "big5" if case == "big5" else "gbk"
    city_name, sex_name, age_name, income_name, label_name = HEADERS[script]
    rng = np.random.default_rng(seed)
    cities = np.array(CITIES[script], dtype=object)
    city = rng.choice(cities, num_rows)
    sex = rng.choice(np.array(["男", "女"], dtype=object), num_rows)
    age = rng.integers(18, 70, num_rows)
    income = rng.integers(2_000, 30_000, num_rows)
    score = (income - 16_000) / 8_000 + np.where(city == cities[0], 1.0, -0.3) + rng.normal(0, 0.3, num_rows)
    return pd.DataFrame(
        {
            city_name: city,
            sex_name: sex,
            age_name: age,
            income_name: [f"{value:,}" for value in income],  # "12,345": a number with a thousands separator
            label_name: np.where(score > 0, "是", "否"),
        }
    )


@pytest.fixture(scope="module", params=sorted(E2E))
def chinese_run(request, tmp_path_factory):
    """A run trained from a Big5, GBK or UTF-16 (no byte order mark) file with Chinese headers and labels."""
    from core.data.reading import load_table_file
    from core.run_store import RunStore
    from core.spec import DataSpec, DenseLayer, ModelSpec, RunSpec, TrainingSpec
    from core.training.run_job import run_job

    case = request.param
    codec, expected = E2E[case]
    folder = tmp_path_factory.mktemp(f"chinese-{case}")
    path = folder / f"客户_{case}.csv"
    table = _chinese_table(case)
    table.to_csv(path, index=False, encoding=codec)
    assert not path.read_bytes().startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF8))
    loaded = load_table_file(path)
    assert loaded.encoding == expected
    assert list(loaded.frame.columns) == list(table.columns)
    income = table.columns[3]
    assert pd.api.types.is_float_dtype(loaded.frame[income])  # "12,345" read as a number
    store = RunStore(folder / "runs")
    spec = RunSpec(
        data=DataSpec(target=table.columns[-1]),
        model=ModelSpec(layers=(DenseLayer(units=8),)),
        training=TrainingSpec(epochs=2, learning_rate=0.02),
    )
    run_id = store.create_run(spec, loaded.frame, source_name=path.name, reading=loaded.reading())
    assert run_job(store, run_id).state == "finished"
    return store.path(run_id), path, table


@pytest.mark.slow
def test_a_chinese_table_trains_exports_and_predicts_with_its_names_intact(chinese_run, tmp_path):
    import keras
    import onnxruntime

    from core.deployment.codegen import generate_script
    from core.deployment.formats import export_artifact

    run_dir, path, table = chinese_run
    columns = list(table.columns)

    # The .keras model on the same file: Chinese class names, in a CSV with a byte order mark for Excel.
    out = tmp_path / "predicted.csv"
    from core.deployment.prediction import predict_file

    predict_file(run_dir / "model.keras", str(path), str(out))
    assert out.read_bytes().startswith(codecs.BOM_UTF8)
    predicted = pd.read_csv(out, encoding="utf-8-sig")
    assert list(predicted.columns) == [*columns, "prediction", "prob_否", "prob_是"]
    assert set(predicted["prediction"]) <= {"是", "否"}
    assert predicted[columns[0]].tolist() == table[columns[0]].tolist()

    # The generated script reads the file as the run did and prepares it as LayerLab does.
    script = generate_script(run_dir)
    (tmp_path / "script.py").write_text(script, encoding="utf-8")
    namespace = runpy.run_path(str(tmp_path / "script.py"), run_name="layerlab_script")
    rows = namespace["load_rows"](str(path))
    assert list(rows.columns) == columns and pd.api.types.is_float_dtype(rows[columns[3]])
    train, _, _ = namespace["split_rows"](rows)
    fitted = namespace["fit_preprocessing"](train)
    stored = {column["name"]: column for column in json.loads((run_dir / "preprocessing.json").read_text())["columns"]}
    assert set(fitted[columns[0]]["vocabulary"]) == set(stored[columns[0]]["vocabulary"]) <= set(table[columns[0]])
    assert fitted[columns[3]]["center"] == pytest.approx(stored[columns[3]]["center"])
    network = keras.saving.load_model(run_dir / "network.keras", compile=False)
    x = namespace["transform"](namespace["read_table"](str(path)), fitted)
    output = np.asarray(network.predict(x, verbose=0), dtype="float64")
    expected = _layerlab_predict(run_dir, path, tmp_path)
    np.testing.assert_allclose(output[:, 0], _probabilities(expected)[:, 1], atol=1e-5)

    # The ONNX zip keeps the Chinese column names and reads the file the same way.
    folder = tmp_path / "onnx"
    with zipfile.ZipFile(export_artifact(run_dir, "onnx")) as archive:
        archive.extractall(folder)
    spec = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
    assert [item["column"] for item in spec["inputs"]] == columns[:-1]
    assert {column["name"] for column in spec["statistics"]["columns"]} == set(columns[:-1])
    assert spec["target"] == columns[-1] and set(spec["classes"]) == {"是", "否"}
    city = next(item for item in spec["inputs"] if item["column"] == columns[0])
    assert set(city["vocabulary"]) & set(table[columns[0]])
    assert spec["reading"]["encoding"] == json.loads((run_dir / "meta.json").read_text())["reading"]["encoding"]
    loader = importlib.util.spec_from_file_location("layerlab_preprocess_zh", folder / "preprocess.py")
    preprocess = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(preprocess)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    inputs = preprocess.preprocess(preprocess.read_rows(str(path), spec["reading"]), spec)
    result = preprocess.postprocess(dict(zip(names, session.run(None, inputs), strict=True)), spec)
    assert result["prediction"].astype(str).tolist() == expected["prediction"].astype(str).tolist()
    np.testing.assert_allclose(_probabilities(result), _probabilities(expected), atol=1e-5)
