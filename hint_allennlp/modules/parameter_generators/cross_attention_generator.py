from typing import Dict

import torch
from torch import nn
from transformers import T5Config

from hint_allennlp.modules.parameter_generators.component_mlp import ComponentMLP
from hint_allennlp.modules.parameter_generators.instruction_attention import InstructionAttention
from hint_allennlp.modules.parameter_generators.parameter_generator import (
    ParameterGenerator,
    module_components,
    variance_scaling_,
)
from hint_allennlp.modules.peft_config import PeftConfig


@ParameterGenerator.register("cross_attention")
class CrossAttentionGenerator(ParameterGenerator):
    """
    HINT's generator (paper §3.1.1): one learned embedding per generated vector (adapter column,
    bias, prefix token, LoRA column) of every slot; one multi-head cross-attention from these
    embeddings to the encoded instruction; then one two-layer MLP per component type, shared across
    layers. Its size is O(d_model^2), independent of the adapter size and the prefix length.

    # Parameters

    t5_config : `T5Config`
        Supplied by the model.
    peft : `PeftConfig`
        Supplied by the model.
    mlp_dropout : `float`, optional (default = `0.0`)
        Dropout inside the component MLPs (0 in the paper era; 0.1 was added later as an option).
    """

    def __init__(self, t5_config: T5Config, peft: PeftConfig, mlp_dropout: float = 0.0) -> None:
        super().__init__(t5_config, peft)
        d_model = t5_config.d_model
        self.components = module_components(t5_config, peft)
        total_vectors = sum(component.num_vectors for component in self.components)
        # Variance scaling, fan-in d_model, as every other generator weight (the reference's
        # `component_embedding`): std 1 would make the first attention logits sqrt(d_model) too large.
        self.embeddings = nn.Parameter(variance_scaling_(torch.empty(total_vectors, d_model), d_model, truncated=False))
        self.attention = InstructionAttention(d_model, t5_config.num_heads, t5_config.d_kv)
        self.mlps = nn.ModuleDict(
            {
                component.name: ComponentMLP(
                    d_model, component.vector_size, mlp_dropout, zero_init=peft.start_as_plain_t5 and component.zero_init
                )
                for component in self.components
            }
        )

    def mix(self, queries: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Collects from the instruction what each embedding needs: [1, Q, d] -> [B, Q, d]."""
        return self.attention(queries, states, mask)

    def forward(self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        mixed = self.mix(self.embeddings.unsqueeze(0), instruction_states, instruction_mask)  # [B, Q, d]
        chunks = mixed.split([component.num_vectors for component in self.components], dim=1)
        return {
            component.name: component.arrange(self.mlps[component.name](chunk), self.t5_config.num_heads)
            for component, chunk in zip(self.components, chunks)
        }
