"""
The T5 layers that generated modules act in, numbered by slot (layout in `task_parameters.py`).
"""

from typing import Iterator, Tuple

from transformers import T5Config, T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5Attention, T5LayerFF


def ffn_slot_count(config: T5Config) -> int:
    return config.num_layers + config.num_decoder_layers


def attention_slot_count(config: T5Config) -> int:
    return config.num_layers + 2 * config.num_decoder_layers


def ffn_layers(t5: T5ForConditionalGeneration) -> Iterator[Tuple[int, T5LayerFF]]:
    """(slot, feed-forward layer): encoder layers first, then decoder layers."""
    blocks = list(t5.encoder.block) + list(t5.decoder.block)
    for slot, block in enumerate(blocks):
        yield slot, block.layer[-1]


def attention_layers(t5: T5ForConditionalGeneration) -> Iterator[Tuple[int, T5Attention]]:
    """
    (slot, attention): encoder self-attention, then each decoder layer's self- and cross-attention.
    """
    slot = 0
    for block in t5.encoder.block:
        yield slot, block.layer[0].SelfAttention
        slot += 1
    for block in t5.decoder.block:
        yield slot, block.layer[0].SelfAttention
        yield slot + 1, block.layer[1].EncDecAttention
        slot += 2


def cross_attentions(t5: T5ForConditionalGeneration) -> Iterator[Tuple[int, T5Attention]]:
    """(decoder layer, its cross-attention)."""
    for layer, block in enumerate(t5.decoder.block):
        yield layer, block.layer[1].EncDecAttention
