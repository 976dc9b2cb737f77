"""
The baselines' generators as the reference builds them (allenai/hyper-task-descriptions,
hyper_task_descriptions/modeling/hyper_network.py, `Hypernet`), on the tiny T5.
"""

import pytest
import torch
from allennlp.common import Lazy, Params
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers import T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5LayerNorm

from hint_allennlp.models.paper_variants import BACKBONES, PAPER_VARIANTS
from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators import (
    CrossAttentionGenerator,
    HyperTuneGenerator,
    HypterGenerator,
    LearnedModules,
    ParameterGenerator,
)
from hint_allennlp.modules.hypernetwork.parameter_generators.component_mlp import ComponentMLP
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from tests import TINY_T5

PREFIXES_ONLY = InsertedModulesConfig(prefix_length=3, use_adapters=False)
ADAPTERS_ONLY = InsertedModulesConfig(adapter_size=4, use_prefixes=False)
XL = BACKBONES["xl"]


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
    generator = HyperTuneGenerator(
        BackboneShape.from_config(t5.config), PREFIXES_ONLY, t5_decoder=t5.decoder
    )
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
    generator = HyperTuneGenerator(
        BackboneShape.from_config(t5.config), PREFIXES_ONLY, t5_decoder=t5.decoder
    ).eval()
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


@pytest.mark.parametrize("queries", [1, 16])
def test_hypertune_all_slots_at_once_reads_q_decoder_outputs_per_vector(t5, queries):
    """
    gins/hypertune_embed.gin / hypertune_full_train.gin (`per_layer_hnet = True`,
    `layer_embedding_method = "decoder"`), hyper_network.py: `layer_embed_components` q (1 from
    commit aa8b3a0 to f142a6f, where the "+ Decoder" runs were scripted; 16 from db24d25 on), times
    `num_components` (2P here) learned embeddings through the hyper-decoder;
    `sum_embeds.reshape(bsz, 1, num_components, -1)` puts each component vector's q outputs side
    by side; per component a LayerNorm over q·d and `MlpBlock(intermediate_dim=emb_dim,
    output_dim=out * (E + 2D))`, divided by sqrt(q·d).
    """
    generator = HyperTuneGenerator(
        BackboneShape.from_config(t5.config),
        PREFIXES_ONLY,
        t5_decoder=t5.decoder,
        all_slots_at_once=True,
        queries_per_vector=queries,
    ).eval()
    d_model, slots = t5.config.d_model, t5.config.num_layers + 2 * t5.config.num_decoder_layers
    inner = t5.config.num_heads * t5.config.d_kv
    assert generator.embeddings.shape == (queries * 2 * 3, d_model)
    for name in ("prefix_key", "prefix_value"):
        mlp = generator.mlps[name]
        assert (mlp.hidden.in_features, mlp.hidden.out_features) == (queries * d_model, d_model)
        assert mlp.output.out_features == slots * inner
        assert generator.component_norms[name].weight.shape == (queries * d_model,)
        assert mlp.scale == (queries * d_model) ** -0.5
    seen = {}
    hooks = [
        module.register_forward_hook(
            lambda module, inputs, output, name=name: seen.__setitem__(name, (inputs[0], output))
        )
        for name, module in [("decoder", generator.hyper_decoder), *generator.mlps.items()]
    ]
    states, mask = _instruction(t5)
    with torch.no_grad():
        modules = generator(states, mask)
    for hook in hooks:
        hook.remove()
    decoded = seen["decoder"][1]  # [B, q * 2P, d]
    # prefix_value's third vector (the 6th of 2P = 6) reads decoder outputs q * 5 ... q * 6 - 1
    value_inputs, value_outputs = seen["prefix_value"]
    expected = generator.component_norms["prefix_value"](
        decoded[:, queries * 5 : queries * 6].reshape(2, queries * d_model)
    )
    torch.testing.assert_close(value_inputs[:, 2], expected)
    # One MLP output is that vector for every slot, in the reference's order: [P][S][inner] read
    # as [S][P][inner].
    assert modules["prefix_value"].shape == (2, slots, t5.config.num_heads, 3, t5.config.d_kv)
    flat = value_outputs.reshape(2, slots, 3, t5.config.num_heads, t5.config.d_kv)
    torch.testing.assert_close(modules["prefix_value"], flat.permute(0, 1, 3, 2, 4))


@pytest.mark.parametrize(
    "queries, billions",
    # hyper_network.py at f142a6f (the "+ Decoder" scripts, 20 Dec 2022) and at db24d25 on
    [(1, 1.770), (16, 1.898)],
)
def test_hypertune_all_slots_at_once_has_the_reference_size_at_t5_xl(queries, billions):
    """
    The "+ Decoder" generator at T5-XL (gins/hyper_xl.gin: emb_dim 2048, 32 heads of 64, mlp_dim
    5120, 24 + 24 layers, as paper_variants.json's `xl`; its P = 30): q·2P embeddings, the
    hyper-decoder (24 cross-attentions and gated feed-forwards, their norms, the final norm), and
    per prefix component a q·d norm and the MLP q·d × d + d × (E + 2D)·h·k. (With q = 1 the
    reference pads its 2P = 60 embeddings to 64 rows for partitioning and reads 60: the 4 unread
    rows are not built here.)
    """
    config, prefix = XL.t5_config(), XL.prefix_length
    d_model, heads, d_kv, d_ff = config.d_model, config.num_heads, config.d_kv, config.d_ff
    layers = config.num_layers
    with torch.device("meta"):
        decoder = T5ForConditionalGeneration(config).decoder
        generator = HyperTuneGenerator(
            BackboneShape.from_config(config),
            InsertedModulesConfig(prefix_length=prefix, use_adapters=False),
            decoder,
            all_slots_at_once=True,
            queries_per_vector=queries,
        )
    hyper_decoder = (
        layers * (4 * d_model * heads * d_kv + 3 * d_model * d_ff + 2 * d_model) + d_model
    )
    per_component = (
        queries * d_model + queries * d_model * d_model + d_model * 3 * layers * heads * d_kv
    )
    reference = queries * 2 * prefix * d_model + hyper_decoder + 2 * per_component
    assert sum(parameter.numel() for parameter in generator.parameters()) == reference
    assert round(reference / 1e9, 3) == billions  # docs/fidelity.md


def test_hint_decoder_generator_defaults_to_the_scripts_query_form():
    arguments = PAPER_VARIANTS["hint_decoder_generator"].model_arguments(
        **BACKBONES["tiny"].module_sizes()
    )
    t5 = T5ForConditionalGeneration.from_pretrained(TINY_T5)
    generator = Lazy(ParameterGenerator, Params(dict(arguments["parameter_generator"]))).construct(
        shape=BackboneShape.from_config(t5.config),
        peft=InsertedModulesConfig(**arguments["peft"]),
        t5_decoder=t5.decoder,
    )
    assert generator.queries_per_vector == 1


def test_hypertune_state_dict_of_another_query_count_names_the_setting_that_loads_it(t5):
    def generator(queries):
        return HyperTuneGenerator(
            BackboneShape.from_config(t5.config),
            PREFIXES_ONLY,
            t5_decoder=t5.decoder,
            all_slots_at_once=True,
            queries_per_vector=queries,
        )

    earlier = generator(16).state_dict()
    with pytest.raises(
        ConfigurationError, match='"model.parameter_generator.queries_per_vector": 16'
    ):
        generator(1).load_state_dict(earlier)
    generator(16).load_state_dict(earlier)
    with pytest.raises(ConfigurationError, match="queries_per_vector must be 1"):
        HyperTuneGenerator(
            BackboneShape.from_config(t5.config),
            PREFIXES_ONLY,
            t5_decoder=t5.decoder,
            queries_per_vector=16,
        )


def test_hypertune_generates_prefixes_only(t5):
    with pytest.raises(ConfigurationError, match="prefixes only"):
        HyperTuneGenerator(
            BackboneShape.from_config(t5.config),
            InsertedModulesConfig(adapter_size=4, prefix_length=3),
            t5_decoder=t5.decoder,
        )


@pytest.mark.parametrize(
    "peft, message",
    [
        # every kind it does not declare is refused, LoRA as much as prefixes
        (
            InsertedModulesConfig(use_prefixes=False, use_lora=True),
            "adapters only.*enabled: adapters, lora",
        ),
        (
            InsertedModulesConfig(use_adapters=False, use_prefixes=False),
            "adapters only.*enabled: none",
        ),
    ],
)
def test_hypter_refuses_the_kinds_it_does_not_make(t5, peft, message):
    with pytest.raises(ConfigurationError, match=message):
        HypterGenerator(BackboneShape.from_config(t5.config), peft)


def test_a_generator_of_every_kind_refuses_a_peft_without_any(t5):
    with pytest.raises(ConfigurationError, match="cross_attention generator needs at least one"):
        CrossAttentionGenerator(
            BackboneShape.from_config(t5.config),
            InsertedModulesConfig(use_adapters=False, use_prefixes=False),
        )


def test_hypter_has_one_bias_free_mlp_per_component_type_covering_all_layers(t5):
    """
    gins/hypter.gin (`layer_embedding_method = "none"`, `per_layer_hnet = True`) and
    hyper_network.py (`hypernetwork(output, ...)`:
    `MlpBlock(intermediate_dim=cfg.emb_dim, output_dim=output * layers)`, which has no biases; its
    input the mean-pooled encoded instruction).
    """
    generator = HypterGenerator(BackboneShape.from_config(t5.config), ADAPTERS_ONLY)
    # With per_layer_hnet the output is for every attention block: E + 2D of them.
    d_model, slots = t5.config.d_model, t5.config.num_layers + 2 * t5.config.num_decoder_layers
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


def hypter_reference_size(backbone: str, adapter_size: int) -> int:
    """
    hyper_network.py `Hypernet.setup` with gins/hypter.gin (gins/hyper_xl.gin, hyper_xxl.gin: the
    backbone's emb_dim and 24 + 24 layers, as paper_variants.json's shapes): four `MlpBlock`s,
    each wi [d, d] and wo [d, output * (E + 2D)] for outputs a·d (adapter_down, adapter_up), a
    (adapter_bias_down) and d (adapter_bias_up).
    """
    config = BACKBONES[backbone].t5_config()
    d_model, blocks = config.d_model, config.num_layers + 2 * config.num_decoder_layers
    return 4 * d_model * d_model + d_model * blocks * (
        2 * adapter_size * d_model + adapter_size + d_model
    )


@pytest.mark.parametrize(
    "backbone, adapter_size, billions",
    # a = 8 in gins/hypter.gin, which the base and 3B runs keep; at 11B the authors' runs set
    # adapter_size=1 (scripts/nat_int/ni_train_hypter.sh from commit c829835, after 4 and 2).
    [("base", 8, 0.36), ("xl", 8, 5.15), ("xxl", 1, 3.69)],
)
def test_hypter_has_the_adapter_size_and_the_size_of_the_reference_generator(
    backbone, adapter_size, billions
):
    variant = PAPER_VARIANTS["hypter"]
    peft = InsertedModulesConfig(
        **variant.model_arguments(**BACKBONES[backbone].module_sizes())["peft"]
    )
    assert peft.adapter_size == adapter_size
    with torch.device("meta"):
        generator = HypterGenerator(
            BackboneShape.from_config(BACKBONES[backbone].t5_config()), peft
        )
    size = sum(parameter.numel() for parameter in generator.parameters())
    assert size == hypter_reference_size(backbone, adapter_size)
    # The figures docs/fidelity.md gives (the Hypter row and "Generators").
    assert round(size / 1e9, 2) == billions


def test_hypter_figures_in_the_docs():
    # At T5-XL, outputs for the E + D read blocks only would be 3.44B (against 5.15B); at 11B, the
    # a = 8 of the smaller backbones would make 20.6B (against 3.69B).
    config = XL.t5_config()
    d_model, layers = config.d_model, config.num_layers + config.num_decoder_layers
    read_blocks_only = 4 * d_model * d_model + d_model * layers * (2 * 8 * d_model + 8 + d_model)
    assert round(read_blocks_only / 1e9, 2) == 3.44
    assert round(hypter_reference_size("xxl", 8) / 1e9, 1) == 20.6


def test_hypter_adapters_are_those_of_the_encoder_and_decoder_self_attention_blocks(t5):
    """
    hyper_network.py `HyperDecoder`: decoder layer j reads the adapters at `v[:, lyr]`, lyr = E + 2j
    (its self-attention block), the encoder's layer i at i; the cross-attention blocks' are unused.
    """
    generator = HypterGenerator(BackboneShape.from_config(t5.config), ADAPTERS_ONLY).eval()
    states, mask = _instruction(t5)
    encoder_layers = t5.config.num_layers
    with torch.no_grad():
        modules = generator(states, mask)
        pooled = (states * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        # adapter_up_bias: one d_model vector per block, so the MLP's output [B, blocks * d]
        per_block = generator.mlps["adapter_up_bias"](pooled).view(2, -1, t5.config.d_model)
    assert per_block.size(1) == encoder_layers + 2 * t5.config.num_decoder_layers
    assert (encoder_layers, t5.config.num_decoder_layers) == (2, 2)
    read = [0, 1, encoder_layers, encoder_layers + 2]
    torch.testing.assert_close(modules["adapter_up_bias"], per_block[:, read])


def test_hypter_archives_of_the_earlier_shape_load_and_make_the_same_adapters(t5, caplog):
    """
    The earlier `hypter` made outputs for the E + D read blocks only: per component
    `ComponentMLP(d, S * n * size)`, its output read as [B, S * n, size]. Such weights, loaded into
    today's generator (here inside a parent module, as in a model's state dict), make the same
    adapters.
    """
    torch.manual_seed(0)
    earlier = {
        component.name: ComponentMLP(
            t5.config.d_model, component.num_vectors * component.vector_size, 0.0, False
        ).eval()
        for component in ADAPTERS_ONLY.components(BackboneShape.from_config(t5.config))
    }
    states, mask = _instruction(t5)
    pooled = (states * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    components = {
        component.name: component
        for component in ADAPTERS_ONLY.components(BackboneShape.from_config(t5.config))
    }
    with torch.no_grad():
        expected = {
            name: components[name].arrange(
                mlp(pooled).view(2, components[name].num_vectors, components[name].vector_size),
                t5.config.num_heads,
            )
            for name, mlp in earlier.items()
        }
    parent = nn.ModuleDict(
        {"generator": HypterGenerator(BackboneShape.from_config(t5.config), ADAPTERS_ONLY).eval()}
    )
    parent.load_state_dict(
        {
            f"generator.mlps.{name}.{key}": value
            for name, mlp in earlier.items()
            for key, value in mlp.state_dict().items()
        }
    )
    assert "earlier hypter shape" in caplog.text
    with torch.no_grad():
        modules = parent["generator"](states, mask)
    assert modules.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(modules[name], tensor)


def test_hypter_reads_the_mean_of_the_unpadded_instruction(t5):
    generator = HypterGenerator(BackboneShape.from_config(t5.config), ADAPTERS_ONLY).eval()
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
    peft = InsertedModulesConfig(adapter_size=4, prefix_length=3)
    generator = LearnedModules(BackboneShape.from_config(t5.config), peft)
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
