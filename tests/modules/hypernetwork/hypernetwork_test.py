"""
The separate instruction encoder of `Hypernetwork`: a copy of the T5 encoder, or, for Hypter as the
authors ran it, new layers reading T5's own token embeddings (gins/ni_train.gin includes
gins/restore_pretrained.gin, which restores no `.*hyper.*` weight; gins/hypter.gin maps none back;
`HyperEncoder(cfg, self.shared_embedding)` embeds with T5's embedder).
"""

import copy

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from transformers import T5ForConditionalGeneration

from tests import TINY_T5

HYPTER = {
    "type": "hint_seq2seq",
    "model_name": str(TINY_T5),
    "parameter_generator": {"type": "hypter"},
    "peft": {"adapter_size": 4, "use_prefixes": False},
    "separate_instruction_encoder": True,
    "instruction_fusion": False,
}


def hypter(**generator_settings) -> Model:
    params = {**HYPTER, "parameter_generator": {"type": "hypter", **generator_settings}}
    return Model.from_params(vocab=Vocabulary(), params=Params(copy.deepcopy(params)))


def encoder_weights(encoder) -> dict:
    return {
        name: parameter
        for name, parameter in encoder.named_parameters()
        if not name.startswith("embed_tokens")
    }


def test_hypter_encodes_instructions_with_new_layers_and_t5s_own_token_embeddings():
    torch.manual_seed(0)
    model = hypter()
    checkpoint = T5ForConditionalGeneration.from_pretrained(TINY_T5)
    instruction_encoder = model.hypernetwork.instruction_encoder
    assert instruction_encoder.embed_tokens.weight is model.t5.shared.weight
    torch.testing.assert_close(model.t5.shared.weight, checkpoint.shared.weight)
    config = checkpoint.config
    t5_layers = encoder_weights(checkpoint.encoder)
    new_layers = encoder_weights(instruction_encoder)
    assert new_layers.keys() == t5_layers.keys()
    for name, parameter in new_layers.items():
        if "layer_norm" in name:  # T5's initial norm weights are ones
            assert torch.equal(parameter, torch.ones_like(parameter)), name
        else:
            assert not torch.equal(parameter, t5_layers[name]), name
    # T5's initialisation (HF `_init_weights`, as t5x's variance scaling): queries 1/sqrt(d·d_kv)
    query = instruction_encoder.block[0].layer[0].SelfAttention.q.weight
    expected_std = (config.d_model * config.d_kv) ** -0.5
    assert abs(query.std().item() / expected_std - 1) < 0.1
    # The shared weight counts once among the model's parameters, and trains once.
    names = [name for name, _ in model.named_parameters()]
    assert "t5.shared.weight" in names
    assert "hypernetwork.instruction_encoder.embed_tokens.weight" not in names


def test_hypter_with_a_pretrained_instruction_encoder_copies_the_t5_encoder():
    model = hypter(pretrained_instruction_encoder=True)
    instruction_encoder = model.hypernetwork.instruction_encoder
    assert instruction_encoder.embed_tokens.weight is not model.t5.shared.weight
    for name, parameter in encoder_weights(model.t5.encoder).items():
        torch.testing.assert_close(encoder_weights(instruction_encoder)[name], parameter)


def test_a_state_dict_with_the_instruction_encoders_own_embeddings_is_refused_with_the_fix():
    tied = hypter()
    tied.load_state_dict(hypter().state_dict())  # the shared weight loads as one
    untied = hypter(pretrained_instruction_encoder=True)
    with torch.no_grad():
        untied.hypernetwork.instruction_encoder.embed_tokens.weight.add_(1.0)
    with pytest.raises(
        ConfigurationError,
        match='"model.parameter_generator.pretrained_instruction_encoder": true',
    ):
        tied.load_state_dict(untied.state_dict())
