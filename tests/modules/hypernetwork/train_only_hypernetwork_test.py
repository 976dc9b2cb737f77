"""
`train_only_hypernetwork`, the authors' gins/train_only_hnet.gin: its optimizer takes only the
parameters matching `.*hyper.*` (the `hyper` module of `HyperTransformer`: the generator, and the
separate hyper-encoder and hyper-decoder where there are such), so the T5 encoder (also when it is
the hypernetwork's encoder, `share_hnet_encoder`), decoder, LM head and the token embeddings that
the hyper-encoder shares (`HyperEncoder(cfg, self.shared_embedding)`) do not train. Here they are
frozen with `requires_grad`, so their gradients are not even computed.
"""

import json

import pytest
import torch
from allennlp.commands.train import TrainModel
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model

from tests import FIXTURES_ROOT

EXPERIMENT = FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"
SNI_TRAIN_SPLIT = FIXTURES_ROOT / "sni" / "splits" / "train_tasks.txt"
PREFIXES_ONLY = {"prefix_length": 3, "use_adapters": False}
# Model settings (overrides of the fixture experiment's model) and the parameter names, by prefix,
# that train with train_only_hypernetwork.
SETTINGS = {
    # The shared encoder is T5's: only the generator trains.
    "hint": ({}, ("hypernetwork.generator.",)),
    # HyperTune as the authors ran it (gins/hypertune.gin + train_only_hnet.gin): the hyper-decoder
    # is part of the generator; the separate encoder trains, without its token embeddings.
    "hypertune": (
        {
            "parameter_generator": {"type": "hypertune"},
            "peft": PREFIXES_ONLY,
            "separate_instruction_encoder": True,
            "instruction_fusion": False,
        },
        (
            "hypernetwork.generator.",
            "hypernetwork.instruction_encoder.block.",
            "hypernetwork.instruction_encoder.final_layer_norm.",
        ),
    ),
    # Learned modules (Tk-Instruct + PEFT) with T5 frozen: ordinary parameter-efficient tuning.
    "learned": (
        {"parameter_generator": {"type": "learned"}, "instruction_fusion": False},
        ("hypernetwork.generator.",),
    ),
    # What injection adds to T5 is not the checkpoint's: the prefix gates train.
    "start_as_plain_t5": (
        {"peft": {"adapter_size": 4, "prefix_length": 3, "start_as_plain_t5": True}},
        ("hypernetwork.generator.", "t5.encoder.block.0.layer.0.SelfAttention.prefix_gate"),
    ),
}


def fixture_model(**overrides) -> Model:
    params = Params.from_file(
        str(EXPERIMENT),
        params_overrides=json.dumps({f"model.{k}": v for k, v in overrides.items()}),
    )
    return Model.from_params(vocab=Vocabulary(), params=params.pop("model"))


def training_batch(instruction_format: str) -> dict:
    """Four fixture SNI training instances in `instruction_format`, as tensors."""
    reader = Params.from_file(str(EXPERIMENT)).pop("dataset_reader")
    reader["instruction_format"] = instruction_format
    instances = list(DatasetReader.from_params(reader).read(SNI_TRAIN_SPLIT))[:4]
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    return batch.as_tensor_dict()


def trains(name: str, trained_prefixes) -> bool:
    if name.endswith("prefix_gate"):  # every prefixed attention has its gate
        return any(prefix.endswith("prefix_gate") for prefix in trained_prefixes)
    return name.startswith(tuple(trained_prefixes))


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_only_the_hypernetwork_requires_and_gets_gradients(setting):
    overrides, trained_prefixes = SETTINGS[setting]
    model = fixture_model(train_only_hypernetwork=True, **overrides)
    requires_grad = {name for name, p in model.named_parameters() if p.requires_grad}
    assert requires_grad == {
        name for name, _ in model.named_parameters() if trains(name, trained_prefixes)
    }
    # The same model without the setting trains everything, and has the same parameters.
    everything = fixture_model(**overrides)
    assert all(p.requires_grad for p in everything.parameters())
    assert [name for name, _ in everything.named_parameters()] == [
        name for name, _ in model.named_parameters()
    ]
    instruction_format = "tk_instruct" if setting == "learned" else "hint"
    model.train()
    model(**training_batch(instruction_format))["loss"].backward()
    for name, parameter in model.named_parameters():
        if name in requires_grad:
            continue
        assert parameter.grad is None, f"{name}: a gradient was computed for a frozen weight"
    assert any(
        model.get_parameter(name).grad is not None
        and model.get_parameter(name).grad.abs().sum() > 0
        for name in requires_grad
    )


def test_frozen_weights_do_not_move_in_training(tmp_path):
    overrides, trained_prefixes = SETTINGS["hypertune"]
    params = Params.from_file(
        str(EXPERIMENT),
        params_overrides=json.dumps(
            {
                **{
                    f"model.{k}": v
                    for k, v in {**overrides, "train_only_hypernetwork": True}.items()
                },
                "dataset_reader.max_instances": 4,
                "validation_data_path": None,
                "data_loader.batch_size": 4,
                "trainer.optimizer": {
                    "type": "huggingface_adafactor",
                    "lr": 1e-3,
                    "relative_step": False,
                    "scale_parameter": True,
                    "warmup_init": False,
                },
            }
        ),
    )
    params.pop("include_in_archive")  # what `allennlp train` takes before building the loop
    train_loop = TrainModel.from_params(
        params=params, serialization_dir=str(tmp_path), local_rank=0
    )
    model = train_loop.model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimized = {
        id(parameter)
        for group in train_loop.trainer.optimizer.param_groups
        for parameter in group["params"]
    }
    train_loop.run()  # one step of 4 instances
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen and not (moved & frozen)
    assert moved, "the hypernetwork trained"
    assert all(trains(name, trained_prefixes) for name in moved)
    assert {id(p) for p in model.parameters() if not p.requires_grad}.isdisjoint(optimized)
    # The separate encoder's copy of the token embeddings stays T5's, as the reference shares them.
    assert torch.equal(
        model.hypernetwork.instruction_encoder.embed_tokens.weight, model.t5.shared.weight
    )


def test_a_model_with_nothing_but_t5_is_refused():
    with pytest.raises(ConfigurationError, match="nothing to train"):
        fixture_model(train_only_hypernetwork=True, parameter_generator=None)
