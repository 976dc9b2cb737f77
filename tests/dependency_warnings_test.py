"""
The dependencies' warnings that every command printed are gone from the CLI's output
(`hint_allennlp/dependency_warnings.py`, requirements.txt), and only those.
"""

import subprocess
import sys

import pytest

# Every test here trains, runs an AllenNLP command or starts processes.
pytestmark = pytest.mark.slow

PKG_RESOURCES = "pkg_resources is deprecated as an API"
AUTOCAST = "`torch.cuda.amp.autocast(args...)` is deprecated"


def test_train_and_predict_print_neither_the_pkg_resources_nor_the_autocast_warning(
    run_in_a_user_folder,
):
    for output in (run_in_a_user_folder.train_output, run_in_a_user_folder.predict_output):
        assert PKG_RESOURCES not in output and AUTOCAST not in output, output[-3000:]
        assert "Warning: " not in output, output[-3000:]  # nor any other warning of Python's
    assert "batch_loss: " in run_in_a_user_folder.train_output  # it trained, through the autocast


def test_the_filter_silences_only_the_autocast_warning_of_allennlps_trainer():
    # In a fresh interpreter: pytest replaces the warning filters for each test.
    script = f"""
import warnings
import hint_allennlp
import allennlp.training.gradient_descent_trainer as trainer

def warn_in(namespace, message):
    exec(compile(f"warnings.warn({{message!r}}, FutureWarning)", namespace["__file__"], "exec"),
         {{**namespace, "warnings": warnings}})

warn_in(vars(trainer), {AUTOCAST!r} + " Please use ...")  # silenced
warn_in(vars(trainer), "another FutureWarning of the trainer")
warn_in({{"__name__": "my_module", "__file__": "my_module.py"}}, {AUTOCAST!r} + " elsewhere")
warnings.warn("a UserWarning", UserWarning)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "Warning: " in line]
    assert [line.split("Warning: ", 1)[1] for line in warned] == [
        "another FutureWarning of the trainer",
        f"{AUTOCAST} elsewhere",
        "a UserWarning",
    ]
