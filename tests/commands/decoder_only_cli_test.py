"""
The decoder-only baselines through the real `allennlp` CLI, as users run them: the tiny GPT-2 and
OPT variants of the Table 1 configs train (and are evaluated on the test tasks), archive and
reload; the GPT-2 archive evaluates, predicts, and compiles a task's instruction keys and values
(`hint-compile`) that `predict` then serves (tests/commands/causal_lm_archive.py, in this process;
OPT takes the same code path); two CPU workers train the tiny GPT-2 config with DDP.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.models.archival import load_archive

from tests import PROJECT_ROOT
from tests.commands.causal_lm_archive import check_evaluate_compile_and_predict
from tests.commands.train_test import epoch_losses, start_training, succeed

# Several processes on the default port: the distributed tests run one after another, on one
# test process (`pytest -n 2 --dist loadgroup`, the Makefile's test).
pytestmark = pytest.mark.xdist_group("distributed")

ALLENNLP = str(Path(sys.executable).parent / "allennlp")
LIBSONNET = PROJECT_ROOT / "training_configs" / "hint.libsonnet"
EXPERIMENTS = {
    "gpt2": PROJECT_ROOT / "training_configs" / "sni" / "def_2pos" / "gpt2_xl.jsonnet",
    "opt": PROJECT_ROOT / "training_configs" / "sni" / "def_2pos" / "opt_13b.jsonnet",
}
# One epoch over 2 instances of each of the 8 training tasks, in 2 steps of 8; the final model is
# evaluated on 2 instances of each test task.
SMALL = "{max_instances_per_task: 2, num_epochs: 1, max_decoding_steps: 3, eval_batch_size: 8}"


def write_experiment(path: Path, family: str, settings: str = "{}") -> Path:
    path.write_text(
        f'local hint = import "{LIBSONNET}";\n'
        f'(import "{EXPERIMENTS[family]}")(hint.tiny_cpu + {SMALL} + {settings})\n'
    )
    return path


def allennlp(*arguments: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [ALLENNLP, *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def train(directory: Path, family: str) -> Path:
    """The serialization directory of the tiny `family` config trained by `allennlp train`."""
    experiment = write_experiment(directory / "experiment.jsonnet", family)
    allennlp("train", str(experiment), "-s", str(directory / "run"))
    return directory / "run"


@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("gpt2"), "gpt2")


def check_trained(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test_rougeL", "test_exact_match", "test_relative_flops"} <= set(metrics)
    assert 0 < metrics["test_relative_flops"] < 1  # the instruction's keys and values cached
    archive = load_archive(run / "model.tar.gz")
    assert type(archive.model).__name__ == "InstructionCausalLM"
    weights = torch.load(run / "best.th", map_location="cpu")
    for name, tensor in archive.model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


@pytest.mark.slow
def test_gpt2_trains_is_evaluated_on_the_test_tasks_and_reloads(gpt2_run):
    check_trained(gpt2_run)


@pytest.mark.slow
def test_opt_trains_is_evaluated_on_the_test_tasks_and_reloads(tmp_path):
    check_trained(train(tmp_path, "opt"))


@pytest.mark.slow
def test_evaluate_compile_and_predict(gpt2_run, tmp_path):
    metrics = check_evaluate_compile_and_predict(gpt2_run / "model.tar.gz", tmp_path)
    assert 0 < metrics["relative_flops"] < 1  # the instruction's keys and values cached


@pytest.mark.slow
def test_two_cpu_workers_train_the_gpt2_config(tmp_path):
    experiment = write_experiment(
        tmp_path / "experiment.jsonnet",
        "gpt2",
        "{cuda_devices: [-1, -1], batch_size: 2, examples_per_step: 8}",
    )
    output = tmp_path / "output.txt"
    succeed(start_training(experiment, tmp_path / "run", output), output)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["distributed"] == {"cuda_devices": [-1, -1]}
    assert config["trainer"]["num_gradient_accumulation_steps"] == 2
    for rank in (0, 1):
        assert "Epoch 0/0" in (tmp_path / "run" / f"out_worker{rank}.log").read_text()
    assert len(epoch_losses(tmp_path / "run")) == 1
    assert (tmp_path / "run" / "model.tar.gz").exists()
