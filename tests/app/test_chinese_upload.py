"""The Data page shows the encoding it guessed for an upload and re-reads the file with the one a person picks."""

import pandas as pd

from tests.app.test_pages import new_app, texts

TRADITIONAL = "城市,性別,年齡,收入,是否購買\n" + "".join(
    f'{city},{sex},{age},"{income}",{label}\n'
    for city, sex, age, income, label in [("臺北", "男", 34, "5,200", "是"), ("高雄", "女", 28, "6,100", "否")] * 20
)


def test_a_big5_upload_shows_its_guess_and_can_be_reread_with_another_encoding(app_env):
    at = new_app()
    at.run()
    at.radio(key="data.source").set_value("Upload a file").run()
    at.file_uploader(key="data.upload").set_value(("客戶.csv", TRADITIONAL.encode("big5"), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert "Text encoding detected: Big5 (Traditional Chinese)" in texts(at)
    assert "Big5 (Traditional Chinese)" in at.selectbox(key="data.encoding").options  # among the choices
    shown = at.dataframe[0].value
    assert list(shown.columns) == ["城市", "性別", "年齡", "收入", "是否購買"]
    assert pd.api.types.is_float_dtype(shown["收入"]) and shown["收入"].iloc[0] == 5200.0
    at.selectbox(key="data.encoding").set_value("gb18030").run()
    assert not at.exception, at.exception
    assert "as you chose" in texts(at)
    assert "Text encoding detected" not in texts(at)
    assert list(at.dataframe[0].value.columns) != ["城市", "性別", "年齡", "收入", "是否購買"]
