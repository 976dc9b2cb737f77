import subprocess
import sys
from pathlib import Path

from tests import PROJECT_ROOT

ALLENNLP = str(Path(sys.executable).parent / "allennlp")


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


def test_registered_names_are_visible_to_the_cli():
    result = subprocess.run(
        [ALLENNLP, "hint-registered"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hint_seq2seq" in result.stdout
    assert "cross_attention" in result.stdout
