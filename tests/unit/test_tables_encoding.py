"""The detected encoding is shown (a note) and can be overridden; a wrong override is a message."""

import pytest

from core.data.reading import ENCODING_CHOICES, load_table
from core.errors import DataError

GBK_CSV = "姓名,城市,收入\n张三,北京,5000\n李四,上海,6200\n".encode("gbk")


def test_gbk_is_detected_and_said():
    table = load_table(GBK_CSV, "export.csv")
    assert table.encoding == "gb18030"
    assert list(table.frame.columns) == ["姓名", "城市", "收入"]
    assert any("GB18030" in note for note in table.notes)


def test_override_is_used_and_said():
    table = load_table(GBK_CSV, "export.csv", encoding="latin-1")
    assert table.encoding == "latin-1"
    assert any("as you chose" in note for note in table.notes)
    assert table.frame.shape == (2, 3)


def test_wrong_override_is_a_message_not_garbage():
    with pytest.raises(DataError, match="not valid UTF-8 text"):
        load_table(GBK_CSV, "export.csv", encoding="utf-8")


@pytest.mark.parametrize("codec", list(ENCODING_CHOICES))
def test_every_choice_reads_a_file_saved_in_it(codec):
    texts = {"big5": "名,市\n甲,臺北\n乙,高雄\n", "shift_jis": "名,市\n甲,東京\n乙,大阪\n"}
    chinese = "名,市\n甲,北京\n乙,上海\n" if codec in {"gb18030", "utf-16"} else "name,city\nAnna,Zürich\nBo,Malmö\n"
    text = texts.get(codec, chinese)
    table = load_table(text.encode(codec), "t.csv", encoding=codec)
    assert table.frame.shape == (2, 2)
    assert table.frame.iloc[1, 1] == text.split("\n")[2].split(",")[1]
