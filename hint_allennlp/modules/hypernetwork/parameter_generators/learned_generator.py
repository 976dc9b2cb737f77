from typing import Dict, Optional

import torch

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators.component_mlp import ComponentMLPs
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
    component_embeddings,
)
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig


@ParameterGenerator.register("learned")
class LearnedModules(ParameterGenerator):
    """
    Ordinary parameter-efficient modules shared by every task, for the "Tk-Instruct + PEFT"
    baseline. As in the reference (`use_instructions=False`), they are not learned as tensors
    directly: learned embeddings, one per generated vector, pass through the same per-component MLPs
    as HINT's (`ComponentMLPs`), a reparameterisation that keeps prefixes stable in training (Li and
    Liang, 2021). It ignores the instruction, so the hypernetwork never runs, and its tensors have
    batch size 1 (broadcast to the batch).

    # Parameters

    shape : `BackboneShape`
        Supplied by the model.
    peft : `InsertedModulesConfig`
        Supplied by the model.
    mlp_dropout : `float`, optional (default = `0.0`)
        Dropout inside the component MLPs, as `cross_attention`'s.
    """

    reads_instruction = False

    def __init__(
        self, shape: BackboneShape, peft: InsertedModulesConfig, mlp_dropout: float = 0.0
    ) -> None:
        super().__init__(shape, peft)
        components = peft.components(shape)
        self.embeddings = component_embeddings(components, shape.d_model)
        self.mlps = ComponentMLPs(components, shape, mlp_dropout, peft.start_as_plain_t5)

    def forward(
        self,
        instruction_states: Optional[torch.Tensor] = None,
        instruction_mask: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        return self.mlps(self.embeddings.unsqueeze(0))  # [1, Q, d] -> batch-1 modules
