"""Japanese messages: KOBAI_LANG=ja or a Japanese locale puts the command's help and its
errors into Japanese, from one catalogue (kobai.locales.ja) that covers every help text."""

import argparse
import re

import pytest
from conftest import one_line, run

from kobai.cli import build_parser
from kobai.i18n import language, translate
from kobai.locales import ja


def _help_texts(parser):
    texts = [parser.description] if parser.description else []
    texts += [g.title for g in parser._action_groups if g.title]
    for action in parser._actions:
        if action.help and action.help is not argparse.SUPPRESS:
            texts.append(action.help)
        if isinstance(action, argparse._SubParsersAction):
            texts += [c.help for c in action._choices_actions if c.help]
            for sub in action.choices.values():
                texts += _help_texts(sub)
    return texts


@pytest.fixture
def english_help(monkeypatch):
    monkeypatch.setenv("KOBAI_LANG", "en")
    return _help_texts(build_parser())


def test_every_help_text_of_every_command_has_its_japanese(english_help):
    missing = sorted({text for text in english_help if text not in ja.TEXTS})
    assert not missing, f"add these to kobai/locales/ja.py TEXTS: {missing}"


def test_the_japanese_names_every_option_and_file_the_english_names(english_help):
    for text in set(english_help):
        names = set(re.findall(r"--[a-z][a-z0-9-]*|\b[\w-]+\.(?:npz|png|csv|json|pkl|py)\b",
                               text))
        assert names <= set(re.findall(r"--[a-z][a-z0-9-]*|\b[\w-]+\.(?:npz|png|csv|json|pkl|"
                                       r"py)\b", ja.TEXTS[text])), text
        assert text.count("%%") == ja.TEXTS[text].count("%%"), text


@pytest.mark.parametrize("environ, expected", [
    ({"KOBAI_LANG": "ja"}, "ja"), ({"LANG": "ja_JP.UTF-8"}, "ja"),
    ({"LC_ALL": "ja_JP.eucJP", "LANG": "en_US.UTF-8"}, "ja"),
    ({"KOBAI_LANG": "en", "LANG": "ja_JP.UTF-8"}, "en"), ({"LANG": "C.UTF-8"}, "en"), ({}, "en"),
])
def test_the_language_is_kobai_lang_else_the_locale(environ, expected):
    assert language(environ) == expected


def test_help_is_japanese_with_kobai_lang_ja(capsys, monkeypatch):
    monkeypatch.setenv("KOBAI_LANG", "ja")
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "train", "--help")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("使い方: kobai train")
    assert "学習率" in out and "オプション:" in out and "--lr" in out


def test_errors_are_japanese_with_kobai_lang_ja_and_english_without(capsys, monkeypatch):
    monkeypatch.setenv("KOBAI_LANG", "ja")
    status, _, err = run(capsys, "train", "--lr", "-1")
    assert status == 2
    assert one_line(err) == ("kobai: エラー: 引数 --lr: 正の数を指定してください（指定されたのは "
                             "-1）（'kobai train --help' を参照）")
    status, _, err = run(capsys, "evaluate")
    assert "評価するモデルを指定してください" in one_line(err)
    monkeypatch.setenv("KOBAI_LANG", "en")
    status, _, err = run(capsys, "evaluate")
    assert one_line(err).startswith("kobai: error: give the model to evaluate")


def test_a_message_the_catalogue_lacks_stays_english_and_the_parts_that_vary_are_kept():
    assert translate("a message nobody wrote down", "ja") == "a message nobody wrote down"
    said = translate("cannot load runs/a b/model.npz: runs/a b/model.npz: is truncated", "ja")
    assert said == "runs/a b/model.npz を読み込めません: runs/a b/model.npz: is truncated"
    assert translate("give one model, not MODEL and --pretrained", "en") == \
        "give one model, not MODEL and --pretrained"


def test_japanese_help_fits_the_terminal_by_display_width(capsys, monkeypatch):
    import unicodedata

    monkeypatch.setenv("KOBAI_LANG", "ja")
    monkeypatch.setenv("COLUMNS", "80")
    for command in ("train", "evaluate", "export", "gradcheck"):
        with pytest.raises(SystemExit):
            run(capsys, command, "--help")
        for line in capsys.readouterr().out.splitlines():
            width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)
            assert width <= 80 or line.startswith("使い方"), (command, line)
            assert not line.lstrip().startswith(("、", "。", "）")), (command, line)
