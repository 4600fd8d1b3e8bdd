"""User strings shown as plain text: Markdown, HTML and bidi controls inert, long names shortened."""

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from core.plain_text import (
    BIDI_CONTROLS,
    WORD_JOINER,
    full_name_help,
    markdown_format,
    markdown_literal,
    plotly_literal,
    shorten,
    strip_controls,
)

HOSTILE = [
    "[click](http://evil.example)",
    "![x](http://evil.example/i.png)",
    "<img src=x onerror=alert(1)>",
    "**bold** _it_ ~~gone~~ `code`",
    ":red[red] :material/home: :smile: $x^2$",
    "# heading",
    "1. list",
    "> quote",
    "| a | b |",
    "a & b &lt; c",
    "back\\slash",
]
# CommonMark with raw HTML on, plus GFM tables and strikethrough: stricter than Streamlit, which drops raw HTML.
RENDERER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered_text(markdown: str) -> str:
    """The HTML of `markdown` as a whole document, less its one paragraph's tags and the word joiners."""
    rendered = RENDERER.render(markdown).replace(WORD_JOINER, "")
    return rendered.removeprefix("<p>").removesuffix("\n").removesuffix("</p>")


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_literal_renders_exactly_the_text(text):
    assert rendered_text(markdown_literal(text)) == html.escape(text, quote=False)


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_any_printable_ascii_renders_literally(text):
    rendered = rendered_text(markdown_literal(text)).replace("&quot;", '"')
    assert rendered.strip() == html.escape(text, quote=False).strip()


def test_bare_links_get_a_word_joiner_so_streamlit_does_not_autolink_them():
    for text in ("http://evil.example", "see www.evil.example", "me@evil.example", "mailto:me"):
        escaped = markdown_literal(text)
        assert WORD_JOINER in escaped
        assert "http:" not in escaped and "www." not in escaped.lower() and "e@e" not in escaped
    assert WORD_JOINER not in markdown_literal("ratio 3:4, a.b, @home")


def test_ordinary_punctuation_is_left_alone():
    message = "Column 'a.b' (text): 3 values, e.g. 50% / 7; see below?"
    assert markdown_literal(message) == message


def test_what_would_open_a_block_is_escaped_at_the_start_only():
    assert markdown_literal("1. first") == "1\\. first"
    assert markdown_literal("  - item") == "&#32;&#32;\\- item"
    assert markdown_literal("a - b 1. c") == "a - b 1. c"


def test_leading_spaces_cannot_start_a_code_block():
    assert markdown_literal("    indented").startswith("&#32;" * 4)


def test_bidi_and_control_characters_are_removed():
    text = "abc" + "".join(BIDI_CONTROLS) + "\x00\x1b[31mdef\tghi\r\njkl\u2028m"
    assert strip_controls(text) == "abc[31mdef ghi  jkl m"
    assert not set(markdown_literal(text)) & BIDI_CONTROLS
    assert not set(plotly_literal(text)) & BIDI_CONTROLS


def test_joiners_needed_by_emoji_are_kept():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert strip_controls(family) == family


@given(st.text(max_size=200), st.integers(min_value=1, max_value=80))
def test_shorten_keeps_at_most_max_chars(text, max_chars):
    short = shorten(text, max_chars)
    assert len(short) <= max_chars
    cleaned = strip_controls(text)
    assert short == cleaned if len(cleaned) <= max_chars else short.endswith("…") and cleaned.startswith(short[:-1])


def test_shorten_rejects_a_useless_limit():
    with pytest.raises(ValueError, match="max_chars"):
        shorten("abc", 0)


def test_markdown_literal_shortens_before_escaping():
    escaped = markdown_literal("*" * 100, max_chars=10)
    assert escaped == "\\*" * 9 + "…"


def test_full_name_help_only_when_shortened():
    assert full_name_help("short") is None
    long = "[x](http://evil.example)" + "a" * 80
    assert rendered_text(full_name_help(long)) == long


def test_markdown_format_keeps_our_emphasis_and_escapes_values():
    assert markdown_format("Predict **{}** from {} columns", "**x**", 3) == "Predict **\\*\\*x\\*\\*** from 3 columns"
    assert rendered_text(markdown_format("**{}**", "_y_")) == "<strong>_y_</strong>"


@pytest.mark.parametrize("text", HOSTILE + ['<a href="http://evil.example">x</a>', "<br><b>b</b>"])
def test_plotly_literal_leaves_no_tags(text):
    shown = plotly_literal(text)
    assert "<" not in shown and ">" not in shown
    assert html.unescape(shown) == text


def test_streamlit_directives_icons_and_shortcodes_are_broken_where_chromium_showed_they_must_be():
    assert markdown_literal(":red[x] :small[y]") == "\\:red\\[x\\] \\:small\\[y\\]"
    assert markdown_literal(":material/home:") == "\\:material\\/home\\:"
    assert markdown_literal(":a:b: :+1:") == "\\:a\\:b\\: :+1\\:"
    assert markdown_literal("Overfitting: since epoch 3, ratio 3:4") == "Overfitting: since epoch 3, ratio 3:4"
