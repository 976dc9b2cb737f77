from typing import Dict

import torch

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators.component_mlp import ComponentMLPs
from hint_allennlp.modules.hypernetwork.parameter_generators.instruction_attention import (
    InstructionAttention,
)
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
    component_embeddings,
)
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig


@ParameterGenerator.register("cross_attention")
class CrossAttentionGenerator(ParameterGenerator):
    """
    HINT's generator (paper §3.1.1): one learned embedding per generated vector (adapter column,
    bias, prefix token, LoRA column) of every slot; one multi-head cross-attention from these
    embeddings to the encoded instruction; then one two-layer MLP per component type, shared across
    layers. Its size is O(d_model^2), independent of the adapter size and the prefix length.

    # Parameters

    shape : `BackboneShape`
        Supplied by the model; its `dropout` (T5's `dropout_rate`, the model's `dropout`) is the
        attention's dropout, its heads and head size the attention's.
    peft : `InsertedModulesConfig`
        Supplied by the model.
    mlp_dropout : `float`, optional (default = `0.0`)
        Dropout inside the component MLPs (0 in the paper era; 0.1 was added later as an option).
    """

    def __init__(
        self, shape: BackboneShape, peft: InsertedModulesConfig, mlp_dropout: float = 0.0
    ) -> None:
        super().__init__(shape, peft)
        components = peft.components(shape)
        self.embeddings = component_embeddings(components, shape.d_model)
        self.attention = InstructionAttention(
            shape.d_model, shape.num_heads, shape.head_dim, dropout=shape.dropout
        )
        self.mlps = ComponentMLPs(components, shape, mlp_dropout, peft.start_as_plain_t5)

    def forward(
        self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        mixed = self.attention(
            self.embeddings.unsqueeze(0), instruction_states, instruction_mask
        )  # [B, Q, d]
        return self.mlps(mixed)
