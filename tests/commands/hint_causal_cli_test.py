"""
HINT on each tiny causal LM through the `allennlp` CLI (in this process), from a user's folder
outside the clone: the tiny config trains on a copy of the checkpoint, which is then deleted; the
archive evaluates, predicts, and compiles a task (`hint-compile`) whose compiled modules and keys
and values predict what its instruction predicts. The tiny Qwen2 (grouped-query attention, q/k/v
biases) trains on two CPU workers, with DDP and with FSDP (`fsdp: true`), which must train the
same losses and weights.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests import PROJECT_ROOT, TINY_CAUSAL_LMS, run_allennlp
from tests.commands.causal_lm_archive import check_evaluate_compile_and_predict
from tests.commands.train_test import epoch_losses, final_weights

# Every test here trains, runs an AllenNLP command or starts processes.
pytestmark = pytest.mark.slow

CONFIGS = PROJECT_ROOT / "training_configs"
# One epoch over 2 instances of each training task; the final model is evaluated on 2 instances
# of each test task.
SMALL = "{max_instances_per_task: 2, num_epochs: 1, max_decoding_steps: 3, eval_batch_size: 8}"
# Two steps of 8 examples at the full learning rate (no warmup), so that the weights move.
TWO_WORKERS = "{cuda_devices: [-1, -1], batch_size: 2, examples_per_step: 8, warmup_steps: 1}"


def train_in_a_user_folder(folder: Path, family: str, settings: str = "{}") -> Path:
    """
    `allennlp train` of the tiny `family` config in `folder` on a copy of the checkpoint named by
    a relative path, deleted after training; returns the serialization directory.
    """
    # A name per family: AllenNLP caches tokenizers by the model name it is given.
    backbone = f"my_{family}"
    shutil.copytree(TINY_CAUSAL_LMS[family], folder / backbone)
    (folder / "experiment.jsonnet").write_text(
        f'local hint = import "{CONFIGS / "hint.libsonnet"}";\n'
        f'(import "{CONFIGS / "tiny" / f"hint_{family}_def_2pos.jsonnet"}")'
        f"(hint.tiny_cpu + {SMALL} + {{ model_name: '{backbone}' }} + {settings})\n"
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(folder)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # distributed workers' (spawned processes)
        # Spawned workers import what --include-package names (a user folder has no
        # .allennlp_plugins). DDP's reducer fails the second step if a parameter got no gradient.
        run_allennlp(
            "train", "experiment.jsonnet", "-s", "run", "--include-package", "hint_allennlp"
        )
    shutil.rmtree(folder / backbone)  # the archive carries the backbone's config and tokenizer
    return folder / "run"


# Two CPU workers, processes on the default port: one distributed run at a time.
@pytest.fixture(scope="module")
def qwen2_ddp_run(tmp_path_factory):
    return train_in_a_user_folder(tmp_path_factory.mktemp("ddp"), "qwen2", TWO_WORKERS)


@pytest.mark.parametrize(
    "family",
    ["gpt2", "opt", "llama", pytest.param("qwen2", marks=pytest.mark.xdist_group("distributed"))],
)
def test_train_evaluate_predict_and_compile_from_a_user_folder(family, tmp_path, request):
    if family == "qwen2":
        run = request.getfixturevalue("qwen2_ddp_run")
        assert json.loads((run / "config.json").read_text())["distributed"] == {
            "cuda_devices": [-1, -1]
        }
        for rank in (0, 1):
            assert "Epoch 0/0" in (run / f"out_worker{rank}.log").read_text()
    else:
        run = train_in_a_user_folder(tmp_path, family)
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["parameter_generator"]["type"] == "cross_attention"
    assert len(epoch_losses(run)) == 1
    check_evaluate_compile_and_predict(run / "model.tar.gz", tmp_path)


def check_same_training(run: Path, expected_run: Path) -> None:
    """The runs' losses and archived weights agree, and training moved the backbone's weights."""
    torch.testing.assert_close(epoch_losses(run), epoch_losses(expected_run), atol=1e-5, rtol=0)
    weights, expected = final_weights(run), final_weights(expected_run)
    assert weights.keys() == expected.keys()
    for name, tensor in weights.items():
        torch.testing.assert_close(tensor, expected[name], atol=1e-6, rtol=0, msg=name)
    checkpoint = AutoModelForCausalLM.from_pretrained(TINY_CAUSAL_LMS["qwen2"]).state_dict()
    moved = max((weights[f"lm.{name}"] - tensor).abs().max() for name, tensor in checkpoint.items())
    assert moved > 1e-5, moved


@pytest.mark.xdist_group("distributed")
def test_fsdp_trains_the_losses_and_weights_ddp_trains(qwen2_ddp_run, tmp_path):
    run = train_in_a_user_folder(tmp_path, "qwen2", f"{TWO_WORKERS} + {{fsdp: true}}")
    assert json.loads((run / "config.json").read_text())["distributed"]["ddp_accelerator"] == {
        "type": "torch_fsdp"
    }
    check_same_training(run, qwen2_ddp_run)


@pytest.mark.cuda
@pytest.mark.skipif(
    torch.cuda.device_count() < 2, reason="needs two or more CUDA GPUs (one NCCL worker each)"
)
def test_fsdp_trains_what_ddp_trains_on_every_gpu(tmp_path):
    """The FSDP / DDP comparison above on every visible GPU, with NCCL."""
    devices = list(range(torch.cuda.device_count()))
    settings = f"{{cuda_devices: {devices}, batch_size: 1, examples_per_step: {2 * len(devices)}}}"
    runs = {}
    for name, accelerator in [("ddp", "{}"), ("fsdp", "{fsdp: true}")]:
        (tmp_path / name).mkdir()
        runs[name] = train_in_a_user_folder(
            tmp_path / name, "qwen2", f"{TWO_WORKERS} + {settings} + {accelerator}"
        )
    check_same_training(runs["fsdp"], runs["ddp"])
