import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from allennlp.common import plugins

from hint_allennlp.commands import note_how_subcommands_are_found
from tests import PROJECT_ROOT

ALLENNLP = str(Path(sys.executable).parent / "allennlp")


@pytest.mark.slow
def test_allennlp_cli_loads_the_plugin_beside_allennlp_models():
    result = subprocess.run(
        [ALLENNLP, "test-install"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "Plugin hint_allennlp available" in log
    assert "Plugin allennlp_models available" in log
    assert " ERROR " not in log and "- ERROR -" not in log, log
    # No download attempt at start-up (allennlp-models' NarrativeQA module fetches NLTK data at
    # import; the Makefile's install step stops it: docs/installation.md).
    assert "[nltk_data]" not in log, log


@pytest.mark.slow
def test_registered_names_are_visible_to_the_cli():
    result = subprocess.run(
        [ALLENNLP, "hint-registered"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hint_seq2seq" in result.stdout
    assert "cross_attention" in result.stdout


@pytest.mark.slow
def test_the_documented_plugins_file_gives_the_subcommands_in_any_folder(tmp_path):
    """
    docs/installation.md's plugins-file line, written as documented in a `~/.allennlp/plugins` of a
    home of its own, gives the subcommands in a folder without `.allennlp_plugins`
    (`--include-package` would not: AllenNLP reads it after choosing the subcommand).
    """
    installation = (PROJECT_ROOT / "docs" / "installation.md").read_text()
    line = installation.split("each holding this one line:\n\n```\n", 1)[1].split("\n```", 1)[0]
    assert line == "hint_allennlp"
    home, folder = tmp_path / "home", tmp_path / "folder"
    (home / ".allennlp").mkdir(parents=True)
    (home / ".allennlp" / "plugins").write_text(line + "\n")
    folder.mkdir()
    result = subprocess.run(
        [ALLENNLP, "hint-registered"],
        cwd=folder,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hint_seq2seq" in result.stdout


def test_a_run_by_include_package_logs_where_the_subcommands_are_found(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.chdir(tmp_path)  # no .allennlp_plugins here
    monkeypatch.setenv("HOME", str(tmp_path))  # nor a global one
    monkeypatch.setattr(plugins, "GLOBAL_PLUGINS_FILENAME", str(tmp_path / ".allennlp/plugins"))
    with caplog.at_level(logging.INFO):
        note_how_subcommands_are_found(["allennlp", "train", "--include-package", "hint_allennlp"])
    assert "hint_allennlp came by --include-package. AllenNLP finds the subcommands" in caplog.text
    caplog.clear()
    (tmp_path / ".allennlp_plugins").write_text("hint_allennlp\n")
    with caplog.at_level(logging.INFO):
        note_how_subcommands_are_found(["allennlp", "train", "--include-package", "hint_allennlp"])
    assert caplog.text == ""
