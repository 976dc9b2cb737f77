"""
A diverged run stops, naming the step, and leaves no checkpoint or archive of non-finite weights
(`hint_allennlp/training/stop_on_non_finite.py`, in every config's callbacks).
"""

import json

import pytest
import torch
from allennlp.commands.train import train_model_from_file

from hint_allennlp.training.stop_on_non_finite import NonFiniteTrainingError
from tests import FIXTURES_ROOT
from tests.commands.train_test import (
    DISTRIBUTED_SETTINGS,
    TIMEOUT,
    start_training,
    write_experiment,
)

# Several processes on the default port: the distributed tests run one after another, on one
# test process (`pytest -n 2 --dist loadgroup`, the Makefile's test).
pytestmark = [pytest.mark.xdist_group("distributed"), pytest.mark.slow]


def test_a_run_whose_weights_diverge_stops_before_they_are_saved(tmp_path):
    # Adafactor at 1e6: both steps' losses are finite, the weights after the second are not.
    experiment = write_experiment(tmp_path / "experiment.jsonnet", "{}")
    serialization_dir, output = tmp_path / "run", tmp_path / "output.txt"
    overrides = {
        "trainer.optimizer.lr": 1e6,
        "trainer.num_epochs": 1,
        "data_loader.batches_per_epoch": 2,
    }
    process = start_training(experiment, serialization_dir, output, "-o", json.dumps(overrides))
    process.wait(timeout=TIMEOUT)
    log = output.read_text()
    assert process.returncode != 0, log[-3000:]
    assert (
        "NonFiniteTrainingError: Training stopped at the end of epoch 0 (after optimizer step 2)"
        in log
    )
    assert "weight tensors are not finite (t5.shared.weight" in log
    assert "now 1e+06" in log
    # No checkpoint, no best.th, no archive.
    assert not list(serialization_dir.glob("*.th")) and not list(serialization_dir.glob("*.tar.gz"))


def test_a_non_finite_loss_stops_the_run_at_its_batch_before_the_backward_pass(tmp_path):
    # A model that starts from a broken checkpoint (NaN in the LM head): the first batch's loss is
    # NaN, for which AllenNLP's own check ("nan loss encountered") says neither where nor why.
    broken_weights = tmp_path / "broken.th"
    torch.save({"t5.lm_head.weight": torch.full((32128, 64), float("nan"))}, broken_weights)
    overrides = {
        "model.initializer": {
            "regexes": [
                [
                    "t5.lm_head.weight",
                    {"type": "pretrained", "weights_file_path": str(broken_weights)},
                ]
            ]
        },
        "trainer.num_epochs": 1,
    }
    with pytest.raises(
        NonFiniteTrainingError,
        match=r"epoch 0, batch 1 of the epoch \(optimizer step 1\): the training loss is nan",
    ):
        train_model_from_file(
            FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet",
            tmp_path / "run",
            overrides=json.dumps(overrides),
        )
    assert not list((tmp_path / "run").glob("*.th"))


def test_sharded_workers_stop_together_before_any_shard_is_saved(tmp_path):
    # FSDP2 on two CPU workers (gloo): each checks its own shards and the loss of its own batches;
    # the verdict is summed, so both stop at the same point instead of one waiting for the other.
    settings = (
        f"{{cuda_devices: [-1, -1], fsdp: true}} + {DISTRIBUTED_SETTINGS} "
        "+ {optimizer_steps: 2, num_epochs: 1}"
    )
    experiment = write_experiment(tmp_path / "experiment.jsonnet", settings)
    serialization_dir, output = tmp_path / "run", tmp_path / "output.txt"
    overrides = json.dumps({"trainer.optimizer.lr": 1e6})
    process = start_training(experiment, serialization_dir, output, "-o", overrides)
    process.wait(timeout=TIMEOUT)
    log = output.read_text()
    assert process.returncode != 0, log[-3000:]
    # The issue's run, sharded: both steps' losses are finite, the weights after the second are
    # not. Each worker's shards are checked and the flags summed, so both raise (the first to do
    # so ends the run: torch.multiprocessing tears the other down).
    assert (
        "NonFiniteTrainingError: Training stopped at the end of epoch 0 (after optimizer step 2)"
        in log
    ), log[-3000:]
    assert "weight tensors are not finite (t5.shared.weight" in log
    assert not list(serialization_dir.glob("*.th")) and not list(serialization_dir.glob("*.tar.gz"))
