"""The units `torch_fsdp` shards: every transformer block, whatever the model, and the generator."""

import json

import pytest
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model

from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.parallel.torch_fsdp_accelerator import sharding_units
from tests import FIXTURES_ROOT, TINY_GPT2, TINY_OPT


def hint_with_checkpointing():
    params = Params.from_file(
        str(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"),
        params_overrides=json.dumps({"model.gradient_checkpointing": True}),
    )
    return Model.from_params(vocab=Vocabulary(), params=params.pop("model"))


def causal_lm(checkpoint):
    return Model.from_params(
        vocab=Vocabulary(),
        params=Params({"type": "instruction_causal_lm", "model_name": str(checkpoint)}),
    )


@pytest.mark.parametrize(
    "build, expected",
    [
        # 2 + 2 T5 blocks (switched in place to CheckpointedT5Block) and the generator
        (hint_with_checkpointing, ["CheckpointedT5Block"] * 4 + ["CrossAttentionGenerator"]),
        (lambda: causal_lm(TINY_GPT2), ["GPT2Block"] * 2),
        (lambda: causal_lm(TINY_OPT), ["OPTDecoderLayer"] * 2),
    ],
    ids=["hint", "gpt2", "opt"],
)
def test_every_block_and_generator_is_a_unit(build, expected):
    units = sharding_units(build())
    assert sorted(type(unit).__name__ for unit in units) == sorted(expected)
    assert sum(isinstance(unit, ParameterGenerator) for unit in units) == expected.count(
        "CrossAttentionGenerator"
    )
