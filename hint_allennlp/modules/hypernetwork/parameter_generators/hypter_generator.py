from typing import Dict

import torch
from torch import nn
from transformers import T5Config

from hint_allennlp.modules.hypernetwork.parameter_generators.component_mlp import ComponentMLP
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
)
from hint_allennlp.modules.peft.adapter import ADAPTER
from hint_allennlp.modules.peft.peft_config import PeftConfig


@ParameterGenerator.register("hypter")
class HypterGenerator(ParameterGenerator):
    """
    The Hypter baseline (Ye and Ren, 2021) as the paper replicates it (reference `gins/hypter.gin`:
    `layer_embedding_method = "none"`, `per_layer_hnet = True`): the mean-pooled encoded instruction
    goes through one `ComponentMLP` per component type (hidden d_model, no bias, output divided by
    sqrt(d_model)) whose output is that component for every layer at once. Adapters only; the
    paper's baseline uses a = 8, a separate instruction encoder and no fusion.

    # Parameters

    t5_config : `T5Config`
        Supplied by the model.
    peft : `PeftConfig`
        Supplied by the model; only adapters are supported.
    mlp_dropout : `float`, optional (default = `0.0`)
        Dropout inside the MLPs.
    """

    supported_kinds = (ADAPTER,)

    def __init__(self, t5_config: T5Config, peft: PeftConfig, mlp_dropout: float = 0.0) -> None:
        super().__init__(t5_config, peft)
        self.components = peft.components(t5_config)
        self.mlps = nn.ModuleDict(
            {
                component.name: ComponentMLP(
                    t5_config.d_model,
                    component.num_vectors * component.vector_size,
                    mlp_dropout,
                    zero_init=peft.start_as_plain_t5 and component.zero_init,
                )
                for component in self.components
            }
        )

    def forward(
        self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        mask = instruction_mask.unsqueeze(-1).to(instruction_states.dtype)  # [B, t, 1]
        pooled = (instruction_states * mask).sum(1) / mask.sum(1).clamp(min=1)  # [B, d]
        batch_size = pooled.size(0)
        return {
            # [B, S * n * size] -> [B, S * n, size] -> the component's layout
            component.name: component.arrange(
                self.mlps[component.name](pooled).view(
                    batch_size, component.num_vectors, component.vector_size
                ),
                self.t5_config.num_heads,
            )
            for component in self.components
        }
