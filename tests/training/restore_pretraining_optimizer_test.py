"""
Finetuning after hypernetwork pretraining starts from the pretraining run's Adafactor state, as the
authors' `scripts/nat_int/ni_train_pretrained*.sh` with `gins/full_restore.gin` (t5x restores the
whole train state, optimizer included), and refuses, saying why, what it cannot restore.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers.optimization import Adafactor

from hint_allennlp.training.restore_pretraining_optimizer import (
    RestorePretrainingOptimizerCallback,
)
from tests import PROJECT_ROOT

# Two optimizer steps of pretraining, one of finetuning, on the tiny T5.
RUN = {"optimizer_steps": 2, "num_epochs": 1, "tensorboard": False}


def train(tmp_path: Path, experiment: str, name: str, **settings) -> Path:
    config = tmp_path / f"{name}.jsonnet"
    config.write_text(
        f"local hint = import '{PROJECT_ROOT}/training_configs/hint.libsonnet';\n"
        f"(import '{PROJECT_ROOT}/training_configs/{experiment}')"
        f"(hint.tiny_cpu + {json.dumps({**RUN, **settings})})"
    )
    params = Params.from_file(str(config))
    params["evaluate_on_test"] = False  # not what is tested here
    train_model(params, tmp_path / name)
    return tmp_path / name


def optimizer_steps(serialization_dir: Path) -> set:
    state = torch.load(
        serialization_dir / "training_state_e1_b0.th", map_location="cpu", weights_only=False
    )
    return {parameter["step"] for parameter in state["optimizer"]["state"].values()}


@pytest.mark.slow
def test_finetuning_continues_the_pretraining_runs_adafactor_state(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pretraining = train(tmp_path, "pretraining/hint_c4.jsonnet", "pretraining")
    assert optimizer_steps(pretraining) == {2}
    finetuning = train(
        tmp_path,
        "sni/def/hint.jsonnet",
        "finetuning",
        optimizer_steps=1,
        pretrained_weights=str(pretraining / "model.tar.gz"),
    )
    # Adafactor's per-parameter step goes on from the pretraining's (a fresh state would be at 1).
    assert optimizer_steps(finetuning) == {3}


def fake_trainer(model: nn.Module, optimizer: torch.optim.Optimizer, **attributes):
    """What the callback reads of AllenNLP's trainer, for a fresh (not recovered) run."""
    fresh = {"_start_after_epochs_completed": 0, "_start_after_batches_in_epoch_completed": 0}
    return SimpleNamespace(
        model=model,
        optimizer=optimizer,
        _checkpointer=SimpleNamespace(state_is_sharded=False),
        **{**fresh, **attributes},
    )


def adafactor(model: nn.Module) -> Adafactor:
    return Adafactor(model.parameters(), lr=1e-3, relative_step=False, scale_parameter=True)


def stepped_run(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """A run folder holding the state of one step of `optimizer`, named as AllenNLP names it."""
    model(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    folder.mkdir()
    torch.save(model.state_dict(), folder / "model_state_e1_b0.th")
    torch.save({"optimizer": optimizer.state_dict()}, folder / "training_state_e1_b0.th")


def restore(folder: Path, trainer) -> None:
    callback = RestorePretrainingOptimizerCallback(str(folder.parent), str(folder))
    callback.on_start(trainer)


def test_the_state_is_loaded_and_a_recovered_run_keeps_its_own(tmp_path):
    pretrained = nn.Linear(4, 3)
    stepped_run(tmp_path / "pretraining", pretrained, adafactor(pretrained))
    model = nn.Linear(4, 3)
    optimizer = adafactor(model)
    restore(tmp_path / "pretraining", fake_trainer(model, optimizer))
    assert [state["step"] for state in optimizer.state.values()] == [1, 1]
    recovered = adafactor(model)
    restore(
        tmp_path / "pretraining",
        fake_trainer(model, recovered, _start_after_epochs_completed=1),
    )
    assert not recovered.state


@pytest.mark.parametrize(
    "finetuned, make_optimizer, message",
    [
        # a model of other shapes: the parameter is named
        (nn.Linear(4, 5), adafactor, r"does not fit this run's weight \[5, 4\]"),
        # another number of trained parameters
        (nn.Linear(4, 3, bias=False), adafactor, "trains 2 parameters and this run's 1"),
        # another optimizer
        (nn.Linear(4, 3), lambda model: torch.optim.Adam(model.parameters()), "is not this run's"),
    ],
)
def test_a_state_that_does_not_fit_is_refused_naming_why(
    tmp_path, finetuned, make_optimizer, message
):
    pretrained = nn.Linear(4, 3)
    stepped_run(tmp_path / "pretraining", pretrained, adafactor(pretrained))
    with pytest.raises(ConfigurationError, match=message):
        restore(tmp_path / "pretraining", fake_trainer(finetuned, make_optimizer(finetuned)))


def test_a_folder_without_the_training_state_is_refused_with_the_fix(tmp_path):
    (tmp_path / "weights_only").mkdir()
    torch.save({}, tmp_path / "weights_only" / "best.th")
    model = nn.Linear(4, 3)
    trainer = fake_trainer(model, adafactor(model))
    with pytest.raises(ConfigurationError, match="model.tar.gz holds the weights only"):
        restore(tmp_path / "weights_only", trainer)
    with pytest.raises(ConfigurationError, match="is not a folder"):
        restore(tmp_path / "absent", trainer)
