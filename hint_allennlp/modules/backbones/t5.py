"""
The T5 (and mT5) layers that generated modules act in, numbered by slot (layout in
`hint_allennlp/modules/inserted/task_state.py`; their counts are `BackboneShape`'s).
"""

from typing import Iterator, Tuple

from transformers import T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5Attention, T5LayerFF

from hint_allennlp.modules.transformers_internals import (
    cross_attention,
    feed_forward_layer,
    self_attention,
)


def ffn_layers(t5: T5ForConditionalGeneration) -> Iterator[Tuple[int, T5LayerFF]]:
    """(slot, feed-forward layer): encoder layers first, then decoder layers."""
    blocks = list(t5.encoder.block) + list(t5.decoder.block)
    for slot, block in enumerate(blocks):
        yield slot, feed_forward_layer(block)


def attention_layers(t5: T5ForConditionalGeneration) -> Iterator[Tuple[int, T5Attention]]:
    """
    (slot, attention): encoder self-attention, then each decoder layer's self- and cross-attention.
    """
    slot = 0
    for block in t5.encoder.block:
        yield slot, self_attention(block)
        slot += 1
    for block in t5.decoder.block:
        yield slot, self_attention(block)
        yield slot + 1, cross_attention(block)
        slot += 2


def cross_attentions(t5: T5ForConditionalGeneration) -> Iterator[Tuple[int, T5Attention]]:
    """(decoder layer, its cross-attention)."""
    for layer, block in enumerate(t5.decoder.block):
        yield layer, cross_attention(block)
