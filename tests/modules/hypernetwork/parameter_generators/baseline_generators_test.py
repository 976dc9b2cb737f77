"""
The baselines' generators as the reference builds them (allenai/hyper-task-descriptions,
hyper_task_descriptions/modeling/hyper_network.py, `Hypernet`), on the tiny T5.
"""

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from transformers import T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5LayerNorm

from hint_allennlp.modules.hypernetwork.parameter_generators import (
    CrossAttentionGenerator,
    HyperTuneGenerator,
    HypterGenerator,
    LearnedModules,
)
from hint_allennlp.modules.peft.peft_config import PeftConfig
from tests import TINY_T5

PREFIXES_ONLY = PeftConfig(prefix_length=3, use_adapters=False)
ADAPTERS_ONLY = PeftConfig(adapter_size=4, use_prefixes=False)


@pytest.fixture(scope="module")
def t5():
    return T5ForConditionalGeneration.from_pretrained(TINY_T5).eval()


def _instruction(t5, batch_size=2, length=6, seed=0):
    torch.manual_seed(seed)
    states = torch.randn(batch_size, length, t5.config.d_model)
    mask = torch.ones(batch_size, length, dtype=torch.bool)
    mask[1, 4:] = False
    return states, mask


def test_hyper_decoder_starts_as_the_pretrained_decoder_without_self_attention(t5):
    """
    gins/hypertune.gin: `layer_embedding_method = "decoder"`, and its `RestoreCheckpointConfig`
    assignment map restores `hyper/hyper_decoder/...` from the pretrained `decoder/...`;
    hyper_network.py `HyperDecoderLayer` skips self-attention when `hyper` ("no self-attention in
    hyperdecoder"), `HyperDecoder` runs one layer per decoder layer and ends with `decoder_norm`.
    """
    generator = HyperTuneGenerator(t5.config, PREFIXES_ONLY, t5_decoder=t5.decoder)
    hyper_decoder = generator.hyper_decoder
    assert (
        len(hyper_decoder.cross_attentions)
        == len(hyper_decoder.feed_forwards)
        == t5.config.num_decoder_layers
    )
    expected = {}
    for index, block in enumerate(t5.decoder.block):
        expected.update(
            {f"cross_attentions.{index}.{k}": v for k, v in block.layer[1].state_dict().items()}
        )
        expected.update(
            {f"feed_forwards.{index}.{k}": v for k, v in block.layer[2].state_dict().items()}
        )
    expected.update(
        {f"final_layer_norm.{k}": v for k, v in t5.decoder.final_layer_norm.state_dict().items()}
    )
    ours = hyper_decoder.state_dict()
    assert ours.keys() == expected.keys()  # nothing else: no self-attention
    for name, value in expected.items():
        assert torch.equal(ours[name], value), name
        assert ours[name].data_ptr() != value.data_ptr(), (
            f"{name} must be a copy, trained on its own"
        )


def test_hypertune_prefixes_pass_through_a_layer_norm_per_component(t5):
    """
    hyper_network.py `generate_parameter`: with `layer_embedding_method == "decoder"` each
    component's embeddings go through its own LayerNorm (`prefix_key_norm`, `prefix_value_norm`)
    before its MLP.
    """
    generator = HyperTuneGenerator(t5.config, PREFIXES_ONLY, t5_decoder=t5.decoder).eval()
    assert set(generator.component_norms) == set(generator.mlps) == {"prefix_key", "prefix_value"}
    assert all(isinstance(norm, T5LayerNorm) for norm in generator.component_norms.values())
    seen = {}
    hooks = [
        mlp.register_forward_hook(
            lambda module, inputs, output, name=name: seen.__setitem__(name, inputs[0])
        )
        for name, mlp in generator.mlps.items()
    ]
    states, mask = _instruction(t5)
    with torch.no_grad():
        modules = generator(states, mask)
        generator.component_norms["prefix_key"].weight.mul_(3.0)
        scaled = generator(states, mask)
    for hook in hooks:
        hook.remove()
    # The MLP inputs are the norm's outputs (unit RMS, times its weight) ...
    rms = seen["prefix_key"].pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, 3.0), atol=1e-3, rtol=0)
    # ... and each component has its own norm.
    assert not torch.allclose(scaled["prefix_key"], modules["prefix_key"])
    torch.testing.assert_close(scaled["prefix_value"], modules["prefix_value"])
    assert modules["prefix_key"].shape == (2, 6, t5.config.num_heads, 3, t5.config.d_kv)


def test_hypertune_generates_prefixes_only(t5):
    with pytest.raises(ConfigurationError, match="prefixes only"):
        HyperTuneGenerator(
            t5.config, PeftConfig(adapter_size=4, prefix_length=3), t5_decoder=t5.decoder
        )


@pytest.mark.parametrize(
    "peft, message",
    [
        # every kind it does not declare is refused, LoRA as much as prefixes
        (PeftConfig(use_prefixes=False, use_lora=True), "adapters only.*enabled: adapters, lora"),
        (PeftConfig(use_adapters=False, use_prefixes=False), "adapters only.*enabled: none"),
    ],
)
def test_hypter_refuses_the_kinds_it_does_not_make(t5, peft, message):
    with pytest.raises(ConfigurationError, match=message):
        HypterGenerator(t5.config, peft)


def test_a_generator_of_every_kind_refuses_a_peft_without_any(t5):
    with pytest.raises(ConfigurationError, match="cross_attention generator needs at least one"):
        CrossAttentionGenerator(t5.config, PeftConfig(use_adapters=False, use_prefixes=False))


def test_hypter_has_one_bias_free_mlp_per_component_type_covering_all_layers(t5):
    """
    gins/hypter.gin (`layer_embedding_method = "none"`, `per_layer_hnet = True`) and
    hyper_network.py (`hypernetwork(output, ...)`:
    `MlpBlock(intermediate_dim=cfg.emb_dim, output_dim=output * layers)`, which has no biases; its
    input the mean-pooled encoded instruction).
    """
    generator = HypterGenerator(t5.config, ADAPTERS_ONLY)
    d_model, slots = t5.config.d_model, t5.config.num_layers + t5.config.num_decoder_layers
    assert set(generator.mlps) == {
        "adapter_down",
        "adapter_up",
        "adapter_down_bias",
        "adapter_up_bias",
    }
    output_sizes = {name: mlp.output.out_features for name, mlp in generator.mlps.items()}
    assert output_sizes == {
        "adapter_down": slots * 4 * d_model,
        "adapter_up": slots * 4 * d_model,
        "adapter_down_bias": slots * 4,
        "adapter_up_bias": slots * d_model,
    }
    assert all(mlp.hidden.out_features == d_model for mlp in generator.mlps.values())
    assert all(parameter.dim() == 2 for parameter in generator.parameters())  # no biases


def test_hypter_reads_the_mean_of_the_unpadded_instruction(t5):
    generator = HypterGenerator(t5.config, ADAPTERS_ONLY).eval()
    states, mask = _instruction(t5)
    with torch.no_grad():
        modules = generator(states, mask)
        shuffled = states[:, torch.randperm(states.size(1))]
        # Example 0 has no padding: the order of its tokens does not matter.
        # Example 1's padding is ignored.
        reordered = generator(shuffled, torch.ones_like(mask))
        states[1, 4:] = 100.0
        padded = generator(states, mask)
    torch.testing.assert_close(reordered["adapter_down"][0], modules["adapter_down"][0])
    torch.testing.assert_close(padded["adapter_down"][1], modules["adapter_down"][1])
    assert modules["adapter_down"].shape == (2, 4, t5.config.d_model, 4)
    assert not torch.allclose(modules["adapter_down"][0], modules["adapter_down"][1])


def test_learned_modules_pass_learned_embeddings_through_the_generator_mlps(t5):
    """
    hyper_network.py `Hypernet.__call__` with `use_instructions=False`:
    `sum_embeds = self.embedder`, then the same `generate_parameter` MLPs as with instructions (the
    "X + PEFT" baselines).
    """
    peft = PeftConfig(adapter_size=4, prefix_length=3)
    generator = LearnedModules(t5.config, peft)
    assert not generator.reads_instruction
    # No module tensor is a parameter of its own: only the embeddings and the MLPs are learned.
    assert {name.split(".")[0] for name, _ in generator.named_parameters()} == {
        "embeddings",
        "mlps",
    }
    modules = generator()
    mixed = generator.embeddings.unsqueeze(0)
    expected = generator.mlps(mixed)
    assert modules.keys() == expected.keys()
    for name in modules:
        assert modules[name].size(0) == 1
        torch.testing.assert_close(modules[name], expected[name])
    modules["prefix_key"].sum().backward()
    assert generator.embeddings.grad.abs().sum() > 0
    assert generator.mlps["prefix_key"].hidden.weight.grad.abs().sum() > 0
