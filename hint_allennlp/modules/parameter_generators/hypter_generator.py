from typing import Dict

import torch
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers import T5Config

from hint_allennlp.modules.parameter_generators.parameter_generator import (
    ParameterGenerator,
    init_variance_preserving,
    module_components,
)
from hint_allennlp.modules.peft_config import PeftConfig


@ParameterGenerator.register("hypter")
class HypterGenerator(ParameterGenerator):
    """
    The Hypter baseline (Ye and Ren, 2021): the mean-pooled encoded instruction goes through one MLP
    per layer that outputs that layer's whole adapter (down, down bias, up, up bias). Adapters only;
    the paper's baseline uses a = 8, a separate instruction encoder and no fusion.

    # Parameters

    t5_config : `T5Config`
        Supplied by the model.
    peft : `PeftConfig`
        Supplied by the model; only adapters are supported.
    hidden_size : `int`, optional (default = `128`)
        Hidden size of each per-layer MLP.
    """

    def __init__(self, t5_config: T5Config, peft: PeftConfig, hidden_size: int = 128) -> None:
        super().__init__(t5_config, peft)
        if peft.use_prefixes or peft.use_lora or not peft.use_adapters:
            raise ConfigurationError("The hypter generator makes adapters only: set use_adapters and unset the others")
        self.components = module_components(t5_config, peft)
        self.sizes = [component.vectors_per_slot * component.vector_size for component in self.components]
        self.layer_mlps = nn.ModuleList(
            nn.Sequential(
                nn.Linear(t5_config.d_model, hidden_size),
                nn.GELU(approximate="tanh"),
                nn.Linear(hidden_size, sum(self.sizes)),
            )
            for _ in range(self.components[0].num_slots)
        )
        init_variance_preserving(self.layer_mlps, truncated=True)
        self.scale = t5_config.d_model**-0.5

    def forward(self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        mask = instruction_mask.unsqueeze(-1).to(instruction_states.dtype)  # [B, t, 1]
        pooled = (instruction_states * mask).sum(1) / mask.sum(1).clamp(min=1)  # [B, d]
        # [B, S, sum(sizes)]: one MLP output per layer slot
        per_layer = torch.stack([mlp(pooled) for mlp in self.layer_mlps], dim=1) * self.scale
        batch_size = pooled.size(0)
        return {
            component.name: component.arrange(part.reshape(batch_size, component.num_vectors, -1), self.t5_config.num_heads)
            for component, part in zip(self.components, per_layer.split(self.sizes, dim=-1))
        }
