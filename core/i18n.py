"""Every sentence a person reads, in their language: gettext catalogs (.po) read with Babel, by message id.

Messages have symbolic, dotted ids ("data.reading.too_large"), never English sentences as keys. Their text
lives in gettext catalogs, one folder per language and one file per *domain* so that several people can edit
different files at once:

    core/locale/en/LC_MESSAGES/core.po        core/locale/zh_Hans/LC_MESSAGES/core.po
    core/locale/en/LC_MESSAGES/ui.po          core/locale/zh_Hans/LC_MESSAGES/ui.po
    core/locale/en/LC_MESSAGES/pages.po       core/locale/zh_Hans/LC_MESSAGES/pages.po

English is a catalog like any other (msgid = the id, msgstr = the English sentence). A language's catalogs are
read with `babel.messages.pofile.read_po`, compiled in memory with `babel.messages.mofile.write_mo` into
`gettext.GNUTranslations` (no compiled .mo files in the repository) and chained, all domains of the language
together, once per process. Ids are unique across domains (tests/unit/test_i18n.py).

    t("data.reading.empty", name="people.csv", detail="0 bytes")      # str.format parameters
    t("ui.rows", count=3)                                                # a plural entry: picks the form by count
    with use_language("zh"): ...                                        # the language of this block
    Message("training.killed").to_dict()  →  {"id": "training.killed", "params": {}}   # stored, rendered later

Plurals are ordinary gettext plural entries: `msgid_plural` repeats the id, `msgstr[0]`, `msgstr[1]`… follow
the language's Plural-Forms header (English: one/other; Chinese: a single form). `t(id, count=n)` uses the
plural forms when the entry has them and passes `count` on as a parameter either way.

The current language is a `contextvars.ContextVar` (default English): the web app sets it at the start of
every script run from the visitor's choice, the CLI from `--lang` or `LAYERLAB_LANG`. An id missing from the
current language never silently falls back to English: under tests (pytest, or LAYERLAB_I18N_STRICT=1) it
raises `MissingMessageError`, otherwise the id itself is shown, so it is visible and gets reported.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
import logging
import os
import re
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

log = logging.getLogger(__name__)

# Language codes LayerLab offers → their name as a speaker of the language writes it (the picker's options).
LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文"}
# Language code → the catalog folder under LOCALE_DIR and the Babel locale for numbers and dates. Traditional
# Chinese would add "zh-Hant": "zh_Hant" here, "zh-Hant": "繁體中文" above and its catalog folder.
CATALOGS: dict[str, str] = {"en": "en", "zh": "zh_Hans"}
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGE_ENV = "LAYERLAB_LANG"
STRICT_ENV = "LAYERLAB_I18N_STRICT"
# Regions whose readers write Traditional Chinese (used once a "zh-Hant" language exists).
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo", "hant"})

# The default is LAYERLAB_LANG's language, read when this module is imported, so that child processes started
# by the CLI (which sets it from --lang) speak the same language; English without it.
_language: contextvars.ContextVar[str] = contextvars.ContextVar("layerlab_language")


class MissingMessageError(KeyError):
    """A message id that the current language's catalogs do not hold."""


class _Missing(gettext.NullTranslations):
    """The end of every chain: an id no domain knows raises instead of coming back unchanged."""

    def gettext(self, message):
        raise MissingMessageError(message)

    def ngettext(self, msgid1, msgid2, n):
        raise MissingMessageError(msgid1)


@dataclass(frozen=True)
class _Catalog:
    translations: gettext.GNUTranslations | _Missing
    ids: frozenset[str]
    plural_ids: frozenset[str]


def domains() -> tuple[str, ...]:
    """The catalog domains (file names without .po), as found for English."""
    return tuple(sorted(path.stem for path in (LOCALE_DIR / CATALOGS[DEFAULT_LANGUAGE] / "LC_MESSAGES").glob("*.po")))


def catalog_path(language: str, domain: str) -> Path:
    return LOCALE_DIR / CATALOGS[language] / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(language: str, domain: str):
    """One .po file as a `babel.messages.catalog.Catalog` (for tests and tools; `t` uses the compiled form)."""
    with open(catalog_path(language, domain), "rb") as stream:
        return read_po(stream, locale=CATALOGS[language], domain=domain)


@functools.cache
def _catalog(language: str) -> _Catalog:
    chain: gettext.NullTranslations = _Missing()
    ids: set[str] = set()
    plural_ids: set[str] = set()
    for domain in reversed(domains()):
        if not catalog_path(language, domain).exists():
            continue
        catalog = read_catalog(language, domain)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)  # leaves out untranslated (empty) and fuzzy entries
        buffer.seek(0)
        compiled = gettext.GNUTranslations(buffer)
        compiled.add_fallback(chain)
        chain = compiled
        for message in catalog:
            if message.id and message.string and not message.fuzzy:
                key = message.id[0] if message.pluralizable else message.id
                ids.add(key)
                if message.pluralizable:
                    plural_ids.add(key)
    return _Catalog(chain, frozenset(ids), frozenset(plural_ids))


def reload_catalogs() -> None:
    """Forget the compiled catalogs (after editing a .po file in a running process)."""
    _catalog.cache_clear()


def message_ids(language: str = DEFAULT_LANGUAGE) -> frozenset[str]:
    """Every id the language's catalogs translate."""
    return _catalog(language).ids


def get_language() -> str:
    return _language.get(_DEFAULT_FROM_ENVIRONMENT)


def set_language(language: str) -> contextvars.Token:
    """Make `language` (a key of LANGUAGES) the current language of this context (a script run, a CLI call)."""
    if language not in LANGUAGES:
        raise ValueError(f"Unknown language {language!r}; expected one of {sorted(LANGUAGES)}.")
    return _language.set(language)


@contextmanager
def use_language(language: str) -> Iterator[str]:
    """The current language is `language` inside the block, and what it was afterwards."""
    token = set_language(language)
    try:
        yield language
    finally:
        _language.reset(token)


def language_from_locale(tag: str | None) -> str:
    """The LanguageLab language for a browser locale ("zh-CN", "en-US", "zh_TW") or an Accept-Language header
    ("zh-CN,zh;q=0.9,en;q=0.8"): the first tag whose language we offer; English otherwise."""
    for entry in (tag or "").split(","):
        parts = re.split(r"[-_]", entry.split(";")[0].strip().lower())
        base = parts[0]
        if base == "zh":
            if "zh-Hant" in LANGUAGES and _TRADITIONAL_REGIONS & set(parts[1:]):
                return "zh-Hant"
            return "zh"
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE


def language_from_environment(value: str | None = None) -> str:
    """The CLI's language: `value` (--lang) or LAYERLAB_LANG ("zh", "en", "zh_CN.UTF-8"…); English otherwise."""
    chosen = value if value is not None else os.environ.get(LANGUAGE_ENV, "")
    return language_from_locale(chosen.split(".")[0]) if chosen else DEFAULT_LANGUAGE


_DEFAULT_FROM_ENVIRONMENT = language_from_environment()


def _strict() -> bool:
    return os.environ.get(STRICT_ENV) == "1" or "PYTEST_CURRENT_TEST" in os.environ


def template(message_id: str, *, count: int | None = None, language: str | None = None) -> str:
    """The translated text of `message_id` with its {placeholders} still in it."""
    catalog = _catalog(language or get_language())
    try:
        if count is not None and message_id in catalog.plural_ids:
            return catalog.translations.ngettext(message_id, message_id, count)
        return catalog.translations.gettext(message_id)
    except MissingMessageError:
        if _strict():
            raise MissingMessageError(
                f"Message id {message_id!r} is not in the {language or get_language()!r} catalogs "
                f"(core/locale/*/LC_MESSAGES/*.po)."
            ) from None
        log.warning("Message id %r is missing from the %r catalogs.", message_id, language or get_language())
        return message_id


class Text(str):
    """A sentence rendered by `t`, still knowing its id and parameters (`ref`): an `AppError` made from it can be
    stored as a Message (`core.failures.user_error`) and read again in another language. Anything built from it
    (concatenation, formatting) is a plain `str` again."""

    __slots__ = ("ref",)

    def __new__(cls, text: str, ref: Message):
        value = super().__new__(cls, text)
        value.ref = ref
        return value

    def __reduce__(self):
        return (Text, (str(self), self.ref))


def t(message_id: str, /, **params: Any) -> Text:
    """The sentence `message_id` in the current language, its {placeholders} filled by `params` (str.format).

    `count=` chooses the plural form of a plural entry (and is a parameter like any other). A parameter that is
    a `Message` is rendered in the same language first. The result is a `str` that remembers the message
    (`Text.ref`)."""
    count = params.get("count")
    text = template(message_id, count=count if isinstance(count, int) else None)
    values = {name: value.render() if isinstance(value, Message) else value for name, value in params.items()}
    ref = Message(message_id, {name: value.ref if isinstance(value, Text) else value for name, value in params.items()})
    try:
        return Text(text.format(**values), ref)
    except (KeyError, IndexError, ValueError) as error:
        if _strict():
            raise
        log.warning("Message %r could not be filled with %s: %s", message_id, sorted(values), error)
        return Text(text, ref)


def placeholders(text: str) -> frozenset[str]:
    """The names of a template's {placeholders} ("{count:,}" → "count")."""
    names = set()
    for _, name, _, _ in string.Formatter().parse(text):
        if name:
            names.add(re.split(r"[.\[]", name)[0])
    return frozenset(names)


@dataclass(frozen=True)
class Message:
    """A sentence to show later, kept as its id and parameters: what run files store instead of text, so a run
    made in one language reads in another. `str(message)` renders it in the current language.

    Parameters must be JSON values or Messages (nested ones are stored as {"id", "params"} too)."""

    id: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        return t(self.id, **self.params)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "params": {k: v.to_dict() if isinstance(v, Message) else v for k, v in self.params.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        params = data.get("params") or {}
        return cls(str(data["id"]), {k: cls.from_dict(v) if _is_message(v) else v for k, v in params.items()})


def _is_message(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"id", "params"} and isinstance(value["id"], str)


def babel_locale(language: str | None = None) -> Locale:
    return Locale.parse(CATALOGS[language or get_language()])


def format_number(value: float, *, format: str | None = None) -> str:
    """A number written the current language's way (Babel's format_decimal: grouping and decimal marks)."""
    return format_decimal(value, format=format, locale=babel_locale())


def format_share(value: float, *, format: str | None = None) -> str:
    """A fraction as a percentage the current language's way (0.25 → "25%")."""
    return format_percent(value, format=format, locale=babel_locale())


class CatalogView(Mapping[str, str]):
    """A read-only mapping short key → translated template, for a module that kept a MESSAGES dict: the key `k`
    is the message id `prefix + k` (every id of the English catalogs that starts with `prefix`), read in the
    current language at lookup time, so `MESSAGES[k].format(...)` keeps working."""

    def __init__(self, prefix: str):
        self._prefix = prefix

    def _keys(self) -> list[str]:
        return sorted(i[len(self._prefix) :] for i in message_ids(DEFAULT_LANGUAGE) if i.startswith(self._prefix))

    def __getitem__(self, key: str) -> str:
        if not isinstance(key, str) or self._prefix + key not in message_ids(DEFAULT_LANGUAGE):
            raise KeyError(key)
        return template(self._prefix + key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._prefix + key in message_ids(DEFAULT_LANGUAGE)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())
