"""
The adapter kind: a generated adapter parallel to every feed-forward block (He et al., 2022): in T5
its `T5LayerFF` switched to `AdapterT5LayerFF`; in a decoder-only model a forward hook on each
block's feed-forward module (`AdapterHook`, as text-to-lora's `hooks.py` adds its LoRA), whose
input is already layer-normed in GPT-2, Llama and Qwen2.

| key | shape |
|---|---|
| `adapter_down` | [Bm, E + D, d_model, a] |
| `adapter_down_bias` | [Bm, E + D, a] |
| `adapter_up` | [Bm, E + D, a, d_model] |
| `adapter_up_bias` | [Bm, E + D, d_model] |
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.models.t5.modeling_t5 import T5LayerFF

from hint_allennlp.modules.backbones.decoder_only import feed_forward_modules
from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.backbones.t5 import ffn_layers
from hint_allennlp.modules.inserted.module_kind import Component, ModuleKind, check_at_least_one
from hint_allennlp.modules.inserted.task_state import (
    ActiveTaskState,
    per_example_bias,
    per_example_matmul,
)
from hint_allennlp.modules.transformers_internals import feed_forward_with_its_input

ADAPTER_KEYS = ("adapter_down", "adapter_down_bias", "adapter_up", "adapter_up_bias")


@dataclass
class AdapterConfig:
    """
    The adapter fields of `InsertedModulesConfig`.

    # Parameters

    adapter_size : `int`, optional (default = `8`)
        Bottleneck `a` of the adapters placed parallel to every feed-forward block.
    use_adapters : `bool`, optional (default = `True`)
    """

    adapter_size: int = 8
    use_adapters: bool = True


class AdapterT5LayerFF(T5LayerFF):
    """
    `T5LayerFF` with an adapter parallel to the feed-forward block, reading the same pre-FFN layer
    norm:

        x + FFN(LN(x)) + GELU(LN(x) W_down + b_down) W_up + b_up

    with W_down, b_down, W_up, b_up taken from the active `TaskState` at this layer's slot
    (decoder layers use the adapter generated for their self-attention slot). Without active
    parameters this is exactly `T5LayerFF`.
    """

    @classmethod
    def convert(
        cls, layer: T5LayerFF, ffn_slot: int, active: ActiveTaskState
    ) -> "AdapterT5LayerFF":
        layer.__class__ = cls
        layer.ffn_slot = ffn_slot
        layer.active = active
        return layer

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        output, normed = feed_forward_with_its_input(self, hidden_states)
        return with_adapter(output, normed, self.active, self.ffn_slot)


class AdapterHook:
    """
    The forward hook that adds an adapter to a decoder-only block's feed-forward module:
    `MLP(x) + GELU(x W_down + b_down) W_up + b_up`, x being the module's (normed) input, the
    weights those of `ffn_slot` in the active `TaskState`. Without active parameters the
    module's output is left as it is.
    """

    def __init__(self, ffn_slot: int, active: ActiveTaskState) -> None:
        self.ffn_slot = ffn_slot
        self.active = active

    def __call__(
        self, module: nn.Module, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> torch.Tensor:
        return with_adapter(output, inputs[0], self.active, self.ffn_slot)


def with_adapter(
    output: torch.Tensor, normed: torch.Tensor, active: ActiveTaskState, ffn_slot: int
) -> torch.Tensor:
    """`output` plus the adapter of `ffn_slot` in `active` on `normed` (output alone without it)."""
    parameters = active.current
    # (down [Bm, d, a], down_bias [Bm, a], up [Bm, a, d], up_bias [Bm, d]) or None
    adapter: Optional[Tuple[torch.Tensor, ...]] = (
        parameters.at_slot(ADAPTER_KEYS, ffn_slot) if parameters is not None else None
    )
    if adapter is None:
        return output
    down, down_bias, up, up_bias = adapter
    # [B, seq, d] -> [B, seq, a] -> [B, seq, d]
    bottleneck = F.gelu(
        per_example_matmul(normed, down) + per_example_bias(down_bias), approximate="tanh"
    )
    return output + per_example_matmul(bottleneck, up) + per_example_bias(up_bias)


class Adapter(ModuleKind):
    config_class = AdapterConfig
    name = "adapters"
    enabled_field = "use_adapters"

    def check(self, config: AdapterConfig) -> None:
        check_at_least_one(config, "adapter_size")

    def components(self, shape: BackboneShape, config: AdapterConfig) -> List[Component]:
        ffn_slots, a, d_model = shape.ffn_slots, config.adapter_size, shape.d_model
        return [
            Component("adapter_down", ffn_slots, a, d_model, "columns"),
            Component("adapter_up", ffn_slots, a, d_model, "rows", zero_init=True),
            Component("adapter_down_bias", ffn_slots, 1, a, "vector"),
            Component("adapter_up_bias", ffn_slots, 1, d_model, "vector", zero_init=True),
        ]

    def inject(
        self,
        model: PreTrainedModel,
        shape: BackboneShape,
        config: AdapterConfig,
        active: ActiveTaskState,
    ) -> None:
        if shape.encoder_decoder:
            for slot, layer in ffn_layers(model):
                AdapterT5LayerFF.convert(layer, slot, active)
            return
        for slot, module in feed_forward_modules(model):
            module.register_forward_hook(AdapterHook(slot, active))


ADAPTER = Adapter()
