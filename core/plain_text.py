"""Show strings that come from users (column names, file names, class and category values) as plain text.

A column named `[click](http://evil.example)` must read as exactly that, never become a link; a name holding a
right-to-left override (U+202E) must not reverse the sentence around it; a 300-character name must not push a
page sideways. Streamlit renders Markdown in `st.markdown`, `st.write`, alerts, captions, toasts, widget and
metric labels and `help=` tooltips; Plotly renders a few HTML tags in titles, tick labels, legends and hover
boxes. These pure functions make a string inert for one of them:

- `strip_controls(text)`: drops bidi and other control characters (tabs and line breaks become spaces);
- `shorten(text, max_chars)`: `strip_controls`, then cut with an ellipsis;
- `markdown_literal(text, max_chars=None)`: safe to embed anywhere in Streamlit Markdown;
- `plotly_literal(text, max_chars=None)`: safe to embed in a Plotly string;
- `markdown_format(template, *values)`: our own Markdown template with each value made literal;
- `full_name_help(text, max_chars)`: a `help=` tooltip with the whole name, when `shorten` cut it.

Example:
    >>> st.success(markdown_format("Predict **{}**", "[click](x)"))  # "Predict", then "[click](x)" in bold
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

MAX_CHARS = 60
ELLIPSIS = "…"
# Embedding, override and isolate controls, the marks, and the Arabic letter mark: each can reorder what
# follows it on screen, so a name could make a sentence around it read backwards.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_LINE_BREAKS = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Only what starts Markdown, HTML or Streamlit syntax is escaped (a backslash, or an entity for HTML), so a
# message still reads well in tests and logs: emphasis `* _ ~`, code `` ` ``, links and images `[ ]`, headings
# `#`, tables `|`, LaTeX `$` and HTML `< > &`. Lists and code blocks only matter where the string opens a line.
_BACKSLASHED = frozenset("\\`*_~[]#|$")
_HTML_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# Streamlit's own syntax, as Chromium shows it: `:name` starts a directive (`:red[…]`, `:small[…]`); emoji
# shortcodes and icons are found after the escapes are gone unless the closing colon is escaped ("\\:smile:"
# still shows a smiley, ":smile\\:" does not); and ":material/" is rewritten in the source before parsing.
_SHORTCODE_CHARS = re.compile(r"[-+\w/]")
_ICON_PREFIX = ":material"
_LINE_START = re.compile(r"^( *)(?:(\d+)([.)])|([-+]))")
_LEADING_SPACES = re.compile(r"^ +")
# Streamlit turns bare `http://…`, `www.…`, `mailto:…` and `name@host` into links after the Markdown is parsed,
# when the escapes are gone (checked in Chromium), so an invisible word joiner (U+2060) goes right before the
# `:`, `.` or `@` those patterns need. Copying such a name from the page copies the joiner too.
WORD_JOINER = "\u2060"
_AUTOLINK_MARKS = re.compile(
    r"(?<=[a-z]):(?=//)|(?<=www)\.|(?<=mailto):|(?<=xmpp):|(?<=[\w.+-])@(?=[\w-])", re.IGNORECASE
)


def strip_controls(text: object) -> str:
    """`str(text)` without bidi controls and other control characters; tabs and line breaks become spaces.

    Args:
        text: any value; `None` becomes "None" like `str(None)`.

    Example:
        >>> strip_controls("abc\\u202edef\\nghi")
        'abcdef ghi'
    """
    kept = []
    for char in str(text):
        if char in _LINE_BREAKS:
            kept.append(" ")
        elif char in BIDI_CONTROLS or unicodedata.category(char) == "Cc":
            continue
        else:
            kept.append(char)
    return "".join(kept)


def shorten(text: object, max_chars: int = MAX_CHARS) -> str:
    """`strip_controls(text)`, cut to at most `max_chars` characters with an ellipsis at the end.

    Example:
        >>> shorten("a" * 100, max_chars=5)
        'aaaa…'
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1. Received: max_chars={max_chars}")
    cleaned = strip_controls(text)
    if len(cleaned) <= max_chars:
        return cleaned
    return cleaned[: max_chars - 1] + ELLIPSIS


def _visible(text: object, max_chars: int | None) -> str:
    return strip_controls(text) if max_chars is None else shorten(text, max_chars)


def _escape_markdown(text: str) -> str:
    kept: list[str] = []
    name_length = None  # characters since a colon that could open a `:name:` shortcode; None: no such colon
    for position, char in enumerate(text):
        following = text[position + 1 : position + 2]
        if char == ":":
            kept.append("\\:" if name_length or following.isascii() and following.isalpha() else ":")
            name_length = 0
            continue
        if char in _HTML_ENTITIES:
            kept.append(_HTML_ENTITIES[char])
        elif char in _BACKSLASHED or char == "/" and text.endswith(_ICON_PREFIX, 0, position):
            kept.append("\\" + char)
        else:
            kept.append(char)
        name_length = name_length + 1 if name_length is not None and _SHORTCODE_CHARS.match(char) else None
    return "".join(kept)


def markdown_literal(text: object, max_chars: int | None = None) -> str:
    """`text` as Markdown that Streamlit shows character for character: no links, images, HTML, emphasis,
    headings, lists, tables, colours, icons, emoji or LaTeX.

    Args:
        text: the user's string (or any value, through `str`).
        max_chars: shorten to this many visible characters first (`None`: keep the whole string).
    """
    visible = _AUTOLINK_MARKS.sub(lambda mark: WORD_JOINER + mark.group(), _visible(text, max_chars))
    escaped = _escape_markdown(visible)
    # Where the string opens a Markdown element: "1." or "-" would start a list, four spaces a code block.
    escaped = _LINE_START.sub(lambda start: f"{start[1]}{start[2] or ''}\\{start[3] or start[4]}", escaped)
    return _LEADING_SPACES.sub(lambda spaces: "&#32;" * len(spaces.group()), escaped)


def markdown_format(template: str, *values: object, max_chars: int | None = MAX_CHARS) -> str:
    """`template.format(*values)` with each value made literal (and shortened): the template's own Markdown
    (bold, code) stays, the values cannot add any.

    Example:
        >>> markdown_format("Predict **{}**", "*x*")
        'Predict **\\\\*x\\\\***'
    """
    return template.format(*(markdown_literal(value, max_chars) for value in values))


def plotly_literal(text: object, max_chars: int | None = None) -> str:
    """`text` for a Plotly title, tick label, legend entry, annotation or hover text: the tags Plotly
    understands (`<a href>`, `<b>`, `<br>`, `<span style>`…) show as typed."""
    return "".join(_HTML_ENTITIES.get(char, char) for char in _visible(text, max_chars))


def full_name_help(text: object, max_chars: int = MAX_CHARS) -> str | None:
    """A `help=` tooltip (Markdown) with the whole name when `shorten(text, max_chars)` cuts it, else None."""
    cleaned = strip_controls(text)
    return markdown_literal(cleaned) if len(cleaned) > max_chars else None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(frame):
    """Text cells starting with = + - @ get a leading apostrophe, so a spreadsheet shows them instead of
    running them as formulas (CSV injection). Numbers are left alone."""

    escaped = frame.copy()
    for name in escaped.columns:
        column = escaped[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        text = column.astype("object")
        risky = text.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START))
        escaped[name] = text.where(~risky, "'" + text.astype(str))
    return escaped
