"""No sentence a person reads bypasses the message catalogs (core/i18n.py).

An AST scan finds user-visible string literals (plain or f-strings with words in them):
- in app.py, ui/ and pages/: the text of Streamlit display calls (st.title/header/caption/markdown/write/info/
  warning/error/success/button/selectbox…: their first argument and label=/body=/help=/placeholder=), on `st`,
  `st.sidebar` or any container (`left.metric(...)`);
- in core/: the message of an AppError (any class deriving from core.errors.AppError) raised with a literal.

Converting every file is several people's work, so the files not converted yet are listed in PENDING. The test
fails when a file outside PENDING has a bare literal, and when a file in PENDING has none left: take it off the
list in the same commit that converts it, until the list is empty.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Streamlit calls whose first argument (or these keywords) a visitor reads.
DISPLAY_CALLS = frozenset(
    {
        "title", "header", "subheader", "caption", "markdown", "write", "text", "info", "warning", "error",
        "success", "toast", "exception", "button", "download_button", "form_submit_button", "link_button",
        "page_link", "selectbox", "radio", "multiselect", "checkbox", "toggle", "text_input", "number_input",
        "slider", "select_slider", "text_area", "file_uploader", "date_input", "time_input", "color_picker",
        "expander", "tabs", "metric", "popover", "spinner", "status", "segmented_control", "pills", "chat_input",
        "Page", "dialog", "column_config", "TextColumn", "NumberColumn", "CheckboxColumn", "SelectboxColumn",
        "ProgressColumn", "LinkColumn", "Column", "ListColumn", "DateColumn", "data_editor",
    }
)  # fmt: skip
VISIBLE_KEYWORDS = frozenset({"label", "body", "help", "placeholder", "title", "caption"})
WORD = re.compile(r"[A-Za-z]{2,}")

# Files with user-visible literals not yet moved into the catalogs. Shrinks to empty; never add to it.
PENDING = frozenset({})
# core/ modules whose AppErrors are still made from English sentences (they should carry a message id:
# `DataError(t("…", …))` now, a stored `Message` where the text is kept in a run file). Shrinks to empty.
PENDING_CORE = frozenset({})


def _has_words(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_has_words(part) for part in node.values)
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_has_words(element) for element in node.elts)
    if isinstance(node, ast.BinOp):  # "a" + "b", "…%s" % x
        return _has_words(node.left) or _has_words(node.right)
    return False


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_streamlit_call(node: ast.Call) -> bool:
    """st.x(...), st.sidebar.x(...), st.column_config.X(...) or container.x(...) (a plain name's method)."""
    func = node.func
    if isinstance(func, ast.Attribute):
        return isinstance(func.value, (ast.Name, ast.Attribute))
    return False


def bare_ui_literals(source: str) -> list[int]:
    """Lines of Streamlit display calls given a literal with words in it."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and _call_name(node) in DISPLAY_CALLS and _is_streamlit_call(node)):
            continue
        first = node.args[:1] if _call_name(node) != "Page" else []  # st.Page's first argument is a file
        texts = first + [kw.value for kw in node.keywords if kw.arg in VISIBLE_KEYWORDS]
        if any(_has_words(text) for text in texts):
            lines.append(node.lineno)
    return sorted(lines)


def _app_error_classes(paths: list[Path]) -> set[str]:
    """AppError and every class in core/ that derives from it (by name, to a fixed point)."""
    classes = {"AppError"}
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in paths]
    changed = True
    while changed:
        changed = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in classes:
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if bases & classes:
                        classes.add(node.name)
                        changed = True
    return classes


def bare_core_literals(source: str, errors: set[str]) -> list[int]:
    """Lines where an AppError (or subclass) is made with a literal sentence."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and _call_name(node) in errors and node.args and _has_words(node.args[0])
    )


def _ui_files() -> list[Path]:
    return [REPO_ROOT / "app.py", *sorted((REPO_ROOT / "ui").glob("*.py")), *sorted((REPO_ROOT / "pages").glob("*.py"))]


def _core_files() -> list[Path]:
    return sorted((REPO_ROOT / "core").rglob("*.py"))


def _where(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)).replace("\\", "/")


def _report(found: dict[str, list[int]], pending: frozenset[str], name: str) -> list[str]:
    problems = [f"{where}:{lines}: user-visible literal not through t()" for where, lines in found.items()
                if lines and where not in pending]  # fmt: skip
    done = sorted(where for where in pending if not found.get(where))
    if done:
        problems.append(f"{name} lists files with no bare literal left; take them off: {done}")
    return problems


def test_the_scanner_finds_literals_and_accepts_catalog_calls():
    source = (
        'st.title("Train a model")\nst.sidebar.caption(f"{n} rows")\nleft.metric("Accuracy", 0.9)\n'
        'st.button(t("ui.train"), help="Starts it")\nst.caption(t("ui.x"))\nst.markdown("---")\n'
        'st.write(value)\nst.tabs(["Data", "Model"])\nst.toggle(t("a"), help=t("b"))\n'
    )
    assert bare_ui_literals(source) == [1, 2, 3, 4, 8]
    assert bare_ui_literals('st.Page("pages/data.py", title=t("ui.nav.data"))\nst.Page("p.py", title="Data")') == [2]
    assert bare_core_literals('raise DataError("Bad file")\nraise DataError(t("x"))\n', {"DataError"}) == [1]


def test_no_user_visible_literal_in_the_ui_bypasses_the_catalog():
    found = {_where(path): bare_ui_literals(path.read_text(encoding="utf-8")) for path in _ui_files()}
    problems = _report(found, PENDING, "PENDING")
    assert not problems, "\n".join(problems)


def test_no_app_error_in_core_is_made_from_a_literal_sentence():
    paths = _core_files()
    errors = _app_error_classes(paths)
    found = {_where(path): bare_core_literals(path.read_text(encoding="utf-8"), errors) for path in paths}
    problems = _report(found, PENDING_CORE, "PENDING_CORE")
    assert not problems, "\n".join(problems)
