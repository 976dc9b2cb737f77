"""
The component layouts (`Component.arrange`) on known small tensors, and for each module kind that
its components arrange into exactly the shapes its layer reads and give its size per stack.
"""

import pytest
import torch
from transformers import T5Config

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.inserted.adapter import ADAPTER
from hint_allennlp.modules.inserted.inserted_modules_config import (
    MODULE_KINDS,
    InsertedModulesConfig,
)
from hint_allennlp.modules.inserted.lora import LORA
from hint_allennlp.modules.inserted.module_kind import Component
from hint_allennlp.modules.inserted.prefix import PREFIX

# 3 encoder and 2 decoder layers, so that the two stacks' slot counts differ.
CONFIG = T5Config(d_model=8, d_kv=3, num_heads=2, d_ff=16, num_layers=3, num_decoder_layers=2)
E, D, HEADS, D_KV, D_MODEL = 3, 2, 2, 3, 8
PEFT = InsertedModulesConfig(
    adapter_size=4,
    prefix_length=5,
    lora_rank=6,
    use_lora=True,
    lora_projections=("q", "k", "v", "o"),
)


def numbered(component: Component, batch_size: int = 1) -> torch.Tensor:
    """Generated vectors [Bm, S * n, size] holding 0, 1, 2, ... in order."""
    return torch.arange(
        batch_size * component.num_vectors * component.vector_size, dtype=torch.float
    ).view(batch_size, component.num_vectors, component.vector_size)


def test_columns_makes_each_vector_a_column_of_its_slot():
    component = Component("w", num_slots=2, vectors_per_slot=3, vector_size=2, layout="columns")
    arranged = component.arrange(numbered(component), num_heads=1)
    assert arranged.shape == (1, 2, 2, 3)  # [Bm, S, size, n]
    # slot 1 holds vectors 3, 4, 5 = (6, 7), (8, 9), (10, 11), as columns
    assert arranged[0, 1].tolist() == [[6.0, 8.0, 10.0], [7.0, 9.0, 11.0]]


def test_rows_makes_each_vector_a_row_of_its_slot():
    component = Component("w", num_slots=2, vectors_per_slot=3, vector_size=2, layout="rows")
    arranged = component.arrange(numbered(component), num_heads=1)
    assert arranged.shape == (1, 2, 3, 2)  # [Bm, S, n, size]
    assert arranged[0, 1].tolist() == [[6.0, 7.0], [8.0, 9.0], [10.0, 11.0]]


def test_vector_is_one_vector_per_slot():
    component = Component("b", num_slots=3, vectors_per_slot=1, vector_size=2, layout="vector")
    arranged = component.arrange(numbered(component, batch_size=2), num_heads=1)
    assert arranged.shape == (2, 3, 2)  # [Bm, S, size]
    assert arranged[1, 2].tolist() == [10.0, 11.0]


def test_per_head_splits_each_prefix_token_into_heads():
    component = Component("p", num_slots=2, vectors_per_slot=3, vector_size=4, layout="per_head")
    arranged = component.arrange(numbered(component), num_heads=2)
    assert arranged.shape == (1, 2, 2, 3, 2)  # [Bm, S, H, P, d_kv]
    # slot 1, token 0 is vector 3 = (12, 13, 14, 15): head 0 gets (12, 13), head 1 (14, 15)
    assert arranged[0, 1, :, 0].tolist() == [[12.0, 13.0], [14.0, 15.0]]
    assert arranged[0, 1, 1].tolist() == [[14.0, 15.0], [18.0, 19.0], [22.0, 23.0]]


def test_unknown_layout_is_refused():
    component = Component("x", num_slots=1, vectors_per_slot=1, vector_size=1, layout="diagonal")
    with pytest.raises(ValueError, match="diagonal"):
        component.arrange(torch.zeros(1, 1, 1), num_heads=1)


# What each kind's layer reads, per key: the tensor [Bm, S, ...] (a = 4, P = 5, r = 6).
READ_SHAPES = {
    ADAPTER: {
        "adapter_down": (E + D, D_MODEL, 4),
        "adapter_up": (E + D, 4, D_MODEL),
        "adapter_down_bias": (E + D, 4),
        "adapter_up_bias": (E + D, D_MODEL),
    },
    PREFIX: {
        "prefix_key": (E + 2 * D, HEADS, 5, D_KV),
        "prefix_value": (E + 2 * D, HEADS, 5, D_KV),
    },
    LORA: {
        **{f"lora_{p}_a": (E + 2 * D, D_MODEL, 6) for p in "qkv"},
        **{f"lora_{p}_b": (E + 2 * D, 6, HEADS * D_KV) for p in "qkv"},
        "lora_o_a": (E + 2 * D, HEADS * D_KV, 6),
        "lora_o_b": (E + 2 * D, 6, D_MODEL),
    },
}


@pytest.mark.parametrize("kind", MODULE_KINDS, ids=lambda kind: type(kind).__name__)
def test_each_kind_arranges_into_the_shapes_its_layer_reads(kind):
    components = kind.components(BackboneShape.from_config(CONFIG), PEFT)
    arranged = {
        component.name: component.arrange(numbered(component, batch_size=2), CONFIG.num_heads)
        for component in components
    }
    assert {name: tuple(tensor.shape[1:]) for name, tensor in arranged.items()} == READ_SHAPES[kind]
    assert all(tensor.size(0) == 2 for tensor in arranged.values())


@pytest.mark.parametrize(
    "kind, per_encoder_layer, per_decoder_layer",
    [
        # down and up 2·a·d, biases a + d, one adapter per layer
        (ADAPTER, 2 * 4 * D_MODEL + 4 + D_MODEL, 2 * 4 * D_MODEL + 4 + D_MODEL),
        # P keys and P values of heads·d_kv per attention block; 2 blocks per decoder layer
        (PREFIX, 2 * 5 * HEADS * D_KV, 2 * 2 * 5 * HEADS * D_KV),
        # A and B, r·(d_model + heads·d_kv), on each of q, k, v, o of every attention block
        (LORA, 4 * 6 * (D_MODEL + HEADS * D_KV), 2 * 4 * 6 * (D_MODEL + HEADS * D_KV)),
    ],
    ids=["adapter", "prefix", "lora"],
)
def test_each_kind_counts_its_values_per_stack(kind, per_encoder_layer, per_decoder_layer):
    assert kind.values_per_stack(BackboneShape.from_config(CONFIG), PEFT) == (
        E * per_encoder_layer,
        D * per_decoder_layer,
    )


def test_peft_config_sums_the_enabled_kinds_in_their_order():
    only_prefixes = InsertedModulesConfig(prefix_length=5, use_adapters=False)
    assert only_prefixes.enabled_kinds() == [PREFIX]
    assert only_prefixes.values_per_stack(
        BackboneShape.from_config(CONFIG)
    ) == PREFIX.values_per_stack(BackboneShape.from_config(CONFIG), only_prefixes)
    assert [component.name for component in PEFT.components(BackboneShape.from_config(CONFIG))][
        :6
    ] == [
        "adapter_down",
        "adapter_up",
        "adapter_down_bias",
        "adapter_up_bias",
        "prefix_key",
        "prefix_value",
    ]
    assert InsertedModulesConfig(use_adapters=False, use_prefixes=False).enabled_kinds() == []
