"""The message catalogs (core/i18n.py, core/locale/): complete in every language, plurals, stored messages, the
browser's and the CLI's language, and the glossary (docs/GLOSSARY.md) kept in the Chinese text."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from core import i18n
from core.cli import main
from core.data.reading import load_table
from core.errors import DataError
from core.failures import Failure
from core.i18n import (
    CATALOGS,
    LANGUAGES,
    Message,
    MissingMessageError,
    format_number,
    format_share,
    get_language,
    language_from_environment,
    language_from_locale,
    placeholders,
    read_catalog,
    set_language,
    t,
    template,
    use_language,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("app.py", "server.py", "core", "ui", "pages")


def _entries(language: str) -> dict[str, tuple[str, ...]]:
    """id → its translated forms (one, or one per plural form), over every domain of the language."""
    found: dict[str, tuple[str, ...]] = {}
    for domain in i18n.domains():
        for message in read_catalog(language, domain):
            if not message.id:
                continue
            key = message.id[0] if message.pluralizable else message.id
            assert key not in found, f"{key!r} is in two domains of {language!r}"
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            found[key] = tuple(strings)
    return found


def test_every_language_has_every_domain_and_every_id():
    english = _entries("en")
    assert english, "the English catalogs are empty"
    for language in LANGUAGES:
        for domain in i18n.domains():
            assert i18n.catalog_path(language, domain).exists(), f"{CATALOGS[language]}/{domain}.po is missing"
        assert set(_entries(language)) == set(english), f"{language!r} and 'en' do not have the same ids"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_translation_is_non_empty_and_has_the_english_placeholders(language):
    english = _entries("en")
    for key, forms in _entries(language).items():
        assert all(form.strip() for form in forms), f"{language}: {key!r} has an empty translation"
        wanted = placeholders(english[key][-1])
        for form in forms:
            assert placeholders(form) == wanted, f"{language}: {key!r} has {placeholders(form)}, English {wanted}"
    # Once per language (inside the loop it re-read every catalog for every id: a minute per language).
    assert not any(message.fuzzy for d in i18n.domains() for message in read_catalog(language, d) if message.id)


def test_ids_are_dotted_symbols_not_sentences():
    for key in _entries("en"):
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+", key), f"{key!r} is not a dotted message id"


def test_every_literal_id_given_to_t_exists_in_every_language():
    """An AST scan for t("id"), Message("id"), template("id") and _error/_note("key") of core/data/reading.py."""
    used: dict[str, str] = {}
    for root in SCANNED:
        paths = [REPO_ROOT / root] if root.endswith(".py") else (REPO_ROOT / root).rglob("*.py")
        for path in paths:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                value = node.args[0].value
                if name in {"t", "Message", "template"} and isinstance(value, str):
                    used[value] = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
                elif name in {"_error", "_note"} and path.name == "reading.py" and isinstance(value, str):
                    used[f"data.reading.{value}"] = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
    assert used, "the scan found no message ids"
    for language in LANGUAGES:
        missing = {key: where for key, where in used.items() if key not in i18n.message_ids(language)}
        assert not missing, f"ids used but not in the {language!r} catalogs: {missing}"


def test_t_in_both_languages():
    assert t("ui.nav.train") == "Train"
    with use_language("zh"):
        assert t("ui.nav.train") == "训练"
        assert get_language() == "zh"
        sentence = t("data.reading.empty", name="people.csv", detail="0 bytes")
        assert "people.csv" in sentence and "表头" in sentence
    assert get_language() == "en"
    assert t("data.reading.empty", name="people.csv", detail="0 bytes").startswith("`people.csv` is empty")


def test_plural_forms_follow_each_language():
    assert t("data.rows", count=1) == "1 row"
    assert t("data.rows", count=1234) == "1,234 rows"
    with use_language("zh"):
        assert t("data.rows", count=1) == "1 行"
        assert t("data.rows", count=1234) == "1,234 行"


def test_numbers_and_shares_are_written_the_languages_way():
    assert format_number(1234567.5) == "1,234,567.5"
    assert format_share(0.25) == "25%"
    with use_language("zh"):
        assert format_number(1234567.5) == "1,234,567.5"
        assert format_share(0.256) == "26%"


def test_a_missing_id_raises_under_tests_and_shows_itself_otherwise(monkeypatch):
    with pytest.raises(MissingMessageError):
        t("no.such.message")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.delenv(i18n.STRICT_ENV, raising=False)
    assert t("no.such.message") == "no.such.message"
    with use_language("zh"):
        assert template("no.such.message") == "no.such.message"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError):
        set_language("fr")


def test_a_stored_message_reads_in_the_language_chosen_later():
    stored = json.dumps(Message("data.reading.no_columns", {"name": "wine.csv"}).to_dict(), ensure_ascii=False)
    assert json.loads(stored) == {"id": "data.reading.no_columns", "params": {"name": "wine.csv"}}
    message = Message.from_dict(json.loads(stored))
    english = str(message)
    assert english.startswith("`wine.csv` contains no columns")
    with use_language("zh"):
        assert (
            str(message) == "`wine.csv` 里没有任何列。表格的第一行应是表头，写明每一列的名称。请重新导出表格后再上传。"
        )
    assert message.render() == english


def test_nested_messages_round_trip_and_render_in_one_language():
    outer = Message("data.reading.note_decimal_comma", {"name": "a.csv", "example": "1,5",
                                                        "thousands": Message("data.reading.note_thousands")})  # fmt: skip
    again = Message.from_dict(json.loads(json.dumps(outer.to_dict())))
    assert again == outer
    with use_language("zh"):
        assert "千位分隔符" in again.render()


def test_a_failure_record_is_rendered_in_the_current_language():
    failure = Failure.from_dict(json.loads(json.dumps(Failure("out_of_memory", "training.out_of_memory",
                                                              {"limit_mb": 4096}).to_dict())))  # fmt: skip
    assert "4,096 MB" in failure.sentence() and "batch size" in failure.sentence()
    with use_language("zh"):
        assert "批大小" in failure.sentence()
    with pytest.raises(ValueError):
        Failure("internal", "no.such.id")


def test_reading_errors_follow_the_language():
    with use_language("zh"), pytest.raises(DataError) as caught:
        load_table(b"", "empty.csv")
    assert "是空的" in caught.value.message


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("zh-CN", "zh"), ("zh_CN", "zh"), ("zh-TW", "zh"), ("zh-Hans-CN", "zh"), ("zh", "zh"), ("en-US", "en"),
        ("en", "en"), ("fr-FR", "en"), (None, "en"), ("", "en"), ("fr-FR,zh-CN;q=0.8,en;q=0.5", "zh"),
        ("de-DE,en;q=0.9", "en"), ("ZH-cn", "zh"),
    ],
)  # fmt: skip
def test_language_from_locale(tag, language):
    assert language_from_locale(tag) == language


def test_language_from_the_environment(monkeypatch):
    monkeypatch.setenv(i18n.LANGUAGE_ENV, "zh_CN.UTF-8")
    assert language_from_environment() == "zh"
    assert language_from_environment("en") == "en"
    monkeypatch.delenv(i18n.LANGUAGE_ENV)
    assert language_from_environment() == "en"


def test_cli_lang_zh_prints_a_chinese_error_for_a_missing_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
    missing = str(tmp_path / "missing.csv")
    try:
        assert main(["--lang", "zh", "profile", missing]) == 2
        chinese = capsys.readouterr().err
        assert "无法打开 `missing.csv`" in chinese and "请检查路径后重试" in chinese
        monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
        set_language("en")
        assert main(["profile", missing]) == 2
        assert "We could not open `missing.csv`" in capsys.readouterr().err
        monkeypatch.setenv(i18n.LANGUAGE_ENV, "zh")
        assert main(["profile", missing]) == 2
        assert "无法打开" in capsys.readouterr().err
    finally:
        set_language("en")


def test_cli_json_keys_stay_english(tmp_path, capsys, monkeypatch):
    table = tmp_path / "people.csv"
    table.write_text("age,label\n" + "".join(f"{20 + i},{'yes' if i % 2 else 'no'}\n" for i in range(40)))
    try:
        assert main(["--lang", "zh", "profile", str(table), "--target", "label"]) == 0
    finally:
        set_language("en")
        monkeypatch.delenv(i18n.LANGUAGE_ENV, raising=False)
    english = {"rows", "columns", "target", "task"}
    keys = set(json.loads(capsys.readouterr().out))
    assert keys & english, keys
    assert all(re.fullmatch(r"[a-z_]+", key) for key in keys), keys


# --- the glossary ---------------------------------------------------------------------------------------------

GLOSSARY = REPO_ROOT / "docs" / "GLOSSARY.md"
# Variants the glossary rules out (docs/GLOSSARY.md, "Not"): one term for one idea across the whole app.
FORBIDDEN = {
    "批量大小": "批大小",
    "批次大小": "批大小",
    "精度": "准确率 (accuracy) or 精确率 (precision)",
    "正确率": "准确率",
    "查准率": "精确率",
    "精准率": "精确率",
    "查全率": "召回率",
    "过度拟合": "过拟合",
    "密集层": "全连接层",
    "稠密层": "全连接层",
    "提前停止": "早停",
    "早期停止": "早停",
    "纪元": "轮次",
    "门限": "阈值",
    "您": "你",
    "数据集合": "数据集",
    "目标变量": "目标列",
    "丢弃层": "随机失活 (Dropout)",
}


def test_the_glossary_lists_the_terms_and_the_forbidden_variants():
    text = GLOSSARY.read_text(encoding="utf-8")
    for term in ("训练集", "验证集", "测试集", "过拟合", "学习率", "准确率", "精确率", "召回率", "混淆矩阵", "批大小",
                 "轮次", "早停", "全连接层", "模型卡片", "阈值", "目标列"):  # fmt: skip
        assert term in text, term
    for variant in FORBIDDEN:
        assert variant in text, f"docs/GLOSSARY.md should name the variant {variant!r} it rules out"


def test_the_chinese_catalog_uses_the_glossarys_terms():
    wrong = []
    for key, forms in _entries("zh").items():
        for form in forms:
            wrong += [f"{key}: {variant!r} → {wanted}" for variant, wanted in FORBIDDEN.items() if variant in form]
            if re.search(r"模型卡(?!片)", form):
                wrong.append(f"{key}: '模型卡' → 模型卡片")
    assert not wrong, "\n".join(wrong)
