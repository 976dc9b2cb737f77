from typing import Dict, List, Optional

import torch
from torch import nn

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    init_variance_preserving,
)
from hint_allennlp.modules.inserted.module_kind import Component


class ComponentMLP(nn.Module):
    """
    The two-layer MLP that turns a mixed embedding into one generated vector, shared across layers
    (one per component type): Linear(in -> d, no bias) -> GELU (tanh) -> dropout -> Linear(d ->
    out, no bias), `in` being d_model unless `input_size` says otherwise. Outputs are divided by
    sqrt(in), as in the reference implementation (`generate_parameter`: `/ sqrt(inputs.shape[-1])`).
    """

    def __init__(
        self,
        d_model: int,
        output_size: int,
        dropout: float,
        zero_init: bool,
        input_size: Optional[int] = None,
    ) -> None:
        super().__init__()
        input_size = input_size or d_model
        self.hidden = nn.Linear(input_size, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_model, output_size, bias=False)
        init_variance_preserving(self, truncated=True)
        if zero_init:
            nn.init.zeros_(self.output.weight)
        self.scale = input_size**-0.5

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(nn.functional.gelu(self.hidden(embeddings), approximate="tanh"))
        return self.output(hidden) * self.scale


class ComponentMLPs(nn.ModuleDict):
    """
    One `ComponentMLP` per component type (keyed by component name), applied to that component's
    embeddings, each embedding becoming one generated vector: mixed embeddings [Bm, Q, d] (Q = all
    components' vectors, in the order of `components`) -> the `TaskState` tensors, batch Bm.

    # Parameters

    components : `List[Component]`
    shape : `BackboneShape`
        The shape of the backbone the components are for (`d_model`, `num_kv_heads`).
    dropout : `float`
        Inside each MLP.
    zero_init : `bool`
        Start the components whose `zero_init` is set at zero
        (`InsertedModulesConfig.start_as_plain_t5`).
    """

    def __init__(
        self,
        components: List[Component],
        shape: BackboneShape,
        dropout: float,
        zero_init: bool,
    ) -> None:
        super().__init__(
            {
                component.name: ComponentMLP(
                    shape.d_model,
                    component.vector_size,
                    dropout,
                    zero_init and component.zero_init,
                )
                for component in components
            }
        )
        self.components = components
        # The heads of a prefix's keys and values (`Component.arrange`).
        self.num_heads = shape.num_kv_heads

    def split(self, mixed: torch.Tensor) -> List[torch.Tensor]:
        """[Bm, Q, d] -> each component's embeddings [Bm, num_vectors, d]."""
        return list(mixed.split([component.num_vectors for component in self.components], dim=1))

    def forward(self, mixed: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {
            component.name: component.arrange(self[component.name](chunk), self.num_heads)
            for component, chunk in zip(self.components, self.split(mixed))
        }
