"""
The adapter kind: a generated adapter parallel to every feed-forward block of T5 (He et al., 2022).

| key | shape |
|---|---|
| `adapter_down` | [Bm, E + D, d_model, a] |
| `adapter_down_bias` | [Bm, E + D, a] |
| `adapter_up` | [Bm, E + D, a, d_model] |
| `adapter_up_bias` | [Bm, E + D, d_model] |
"""

from dataclasses import dataclass
from typing import List

import torch
import torch.nn.functional as F
from transformers import T5Config, T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5LayerFF

from hint_allennlp.modules.peft.module_kind import Component, ModuleKind, check_at_least_one
from hint_allennlp.modules.peft.t5_layers import ffn_layers, ffn_slot_count
from hint_allennlp.modules.peft.task_parameters import (
    ActiveTaskParameters,
    per_example_bias,
    per_example_matmul,
)
from hint_allennlp.modules.transformers_internals import feed_forward_with_its_input

ADAPTER_KEYS = ("adapter_down", "adapter_down_bias", "adapter_up", "adapter_up_bias")


@dataclass
class AdapterConfig:
    """
    The adapter fields of `PeftConfig`.

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

    with W_down, b_down, W_up, b_up taken from the active `TaskParameters` at this layer's slot
    (decoder layers use the adapter generated for their self-attention slot). Without active
    parameters this is exactly `T5LayerFF`.
    """

    @classmethod
    def convert(
        cls, layer: T5LayerFF, ffn_slot: int, active: ActiveTaskParameters
    ) -> "AdapterT5LayerFF":
        layer.__class__ = cls
        layer.ffn_slot = ffn_slot
        layer.active = active
        return layer

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        output, normed = feed_forward_with_its_input(self, hidden_states)
        parameters = self.active.current
        # (down [Bm, d, a], down_bias [Bm, a], up [Bm, a, d], up_bias [Bm, d]) or None
        adapter = (
            parameters.at_slot(ADAPTER_KEYS, self.ffn_slot) if parameters is not None else None
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

    def components(self, t5_config: T5Config, config: AdapterConfig) -> List[Component]:
        ffn_slots, a, d_model = ffn_slot_count(t5_config), config.adapter_size, t5_config.d_model
        return [
            Component("adapter_down", ffn_slots, a, d_model, "columns"),
            Component("adapter_up", ffn_slots, a, d_model, "rows", zero_init=True),
            Component("adapter_down_bias", ffn_slots, 1, a, "vector"),
            Component("adapter_up_bias", ffn_slots, 1, d_model, "vector", zero_init=True),
        ]

    def inject(
        self, t5: T5ForConditionalGeneration, config: AdapterConfig, active: ActiveTaskParameters
    ) -> None:
        for slot, layer in ffn_layers(t5):
            AdapterT5LayerFF.convert(layer, slot, active)


ADAPTER = Adapter()
