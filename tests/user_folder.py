"""
The `allennlp` CLI run as a user runs it: from a folder of their own, outside this repository (no
`.allennlp_plugins` there: the plugin comes by `--include-package`).
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from tests import SNI_FIXTURES

ALLENNLP = str(Path(sys.executable).parent / "allennlp")
PREDICT_INPUT = SNI_FIXTURES / "tasks" / "task1152_bard_analogical_reasoning_causation.json"


class UserRun(NamedTuple):
    folder: Path
    archive: Path
    predictions: str
    train_output: str  # stdout and stderr
    predict_output: str


def allennlp(folder: Path, command: str, *arguments: str, check: bool = True):
    """`allennlp <command> <arguments> --include-package hint_allennlp` in `folder`."""
    result = subprocess.run(
        [ALLENNLP, command, *arguments, "--include-package", "hint_allennlp"],
        cwd=folder,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result
