"""
How generated modules are injected into a HuggingFace T5: the layers that use them are switched in
place to subclasses (`AdapterT5LayerFF`, `PrefixT5Attention`, `LoraLinear`) that keep every weight and
every state-dict name of the original, so a HINT model still loads and exports plain T5 checkpoints.
All injected layers read their tensors from one shared `ActiveTaskModules`, which the model sets for
the duration of a forward pass; with nothing set they compute exactly what plain T5 computes.
"""
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

from transformers import T5Config, T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5Attention, T5LayerFF

from hint_allennlp.modules.peft.adapter import AdapterT5LayerFF
from hint_allennlp.modules.peft.lora import LoraLinear
from hint_allennlp.modules.peft.peft_config import PeftConfig
from hint_allennlp.modules.peft.task_vector_attention import PrefixT5Attention
from hint_allennlp.modules.peft.task_parameters import TaskModules


class ActiveTaskModules:
    """The `TaskModules` the injected layers use in the forward pass under way (None: plain T5)."""

    def __init__(self) -> None:
        self.current: Optional[TaskModules] = None

    @contextmanager
    def use(self, modules: Optional[TaskModules]) -> Iterator[None]:
        previous, self.current = self.current, modules
        try:
            yield
        finally:
            self.current = previous


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
    """(slot, attention): encoder self-attention, then each decoder layer's self- and cross-attention."""
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


def inject_task_modules(
    t5: T5ForConditionalGeneration,
    peft: Optional[PeftConfig],
    active: ActiveTaskModules,
    instruction_fusion: bool = False,
) -> None:
    """
    Switches the layers that `peft` names (None: no generated modules) to subclasses that read their
    modules from `active`, and with `instruction_fusion` the cross-attentions to ones that also
    attend to the fused instruction (`instruction_fusion.py`).
    """
    peft = peft or PeftConfig(use_adapters=False, use_prefixes=False, use_lora=False)
    if peft.use_adapters:
        for slot, layer in ffn_layers(t5):
            AdapterT5LayerFF.convert(layer, slot, active)
    fusion_layers = {id(attention): layer for layer, attention in cross_attentions(t5)} if instruction_fusion else {}
    for slot, attention in attention_layers(t5):
        fusion_layer = fusion_layers.get(id(attention))
        if peft.use_prefixes or fusion_layer is not None:
            PrefixT5Attention.convert(
                attention, slot, active, peft.use_prefixes, gated=peft.start_as_plain_t5, fusion_layer=fusion_layer
            )
        if peft.use_lora:
            for projection in peft.lora_projections:
                LoraLinear.convert(getattr(attention, projection), slot, projection, active, peft.lora_scale)
