"""The language of kobai's messages: English, or Japanese with ``KOBAI_LANG=ja`` or a Japanese
locale.

One catalogue per language (:mod:`kobai.locales.ja`): each message is written once in English
where it is raised or declared, and once in the catalogue, looked up by its English text. The
catalogue holds the command line's help (descriptions, option help, group titles, argparse's
own words) word for word, and the error messages as patterns, since most carry a file name or
a value; a message the catalogue lacks is shown in English. The library's exceptions stay in
English (they are read in tracebacks and searched for on the web); the ``kobai`` command
translates what it prints.
"""

from __future__ import annotations

import os
import re
from functools import cache
from types import ModuleType

__all__ = ["language", "translate", "LANGUAGES"]

#: the languages with a catalogue, besides English
LANGUAGES = ("ja",)


def language(environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """``"ja"`` or ``"en"``: ``KOBAI_LANG`` when set (``ja``, ``en``), else the locale of
    ``LC_ALL``, ``LC_MESSAGES`` or ``LANG`` (``ja_JP.UTF-8`` is Japanese)."""
    env = os.environ if environ is None else environ
    chosen = env.get("KOBAI_LANG", "").strip().lower()
    if chosen:
        return "ja" if chosen.startswith("ja") else "en"
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


@cache
def _catalogue(lang: str) -> ModuleType | None:
    if lang not in LANGUAGES:
        return None
    from importlib import import_module

    return import_module(f"kobai.locales.{lang}")


@cache
def _patterns(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    catalogue = _catalogue(lang)
    if catalogue is None:
        return ()
    return tuple((re.compile(pattern, re.S), template)
                 for pattern, template in catalogue.PATTERNS)


def translate(text: str, lang: str | None = None) -> str:
    """``text`` in ``lang`` (default :func:`language`): the catalogue's words for it, its
    pattern's template filled with the parts that vary (each translated in turn), or ``text``
    itself when the catalogue has neither."""
    lang = language() if lang is None else lang
    catalogue = _catalogue(lang)
    if catalogue is None or not text:
        return text
    exact = catalogue.TEXTS.get(text)
    if exact is not None:
        return exact
    for pattern, template in _patterns(lang):
        found = pattern.fullmatch(text)
        if found:
            parts = {key: translate(value, lang) if key.startswith("msg") else value
                     for key, value in found.groupdict().items()}
            return template.format(**parts)
    return text
