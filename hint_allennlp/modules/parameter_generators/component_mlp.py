import torch
from torch import nn

from hint_allennlp.modules.parameter_generators.parameter_generator import init_variance_preserving


class ComponentMLP(nn.Module):
    """
    The two-layer MLP that turns a mixed embedding into one generated vector, shared across layers
    (one per component type): Linear(d -> d, no bias) -> GELU (tanh) -> dropout -> Linear(d -> out,
    no bias). Outputs are divided by sqrt(d_model), as in the reference implementation.
    """

    def __init__(self, d_model: int, output_size: int, dropout: float, zero_init: bool) -> None:
        super().__init__()
        self.hidden = nn.Linear(d_model, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_model, output_size, bias=False)
        init_variance_preserving(self, truncated=True)
        if zero_init:
            nn.init.zeros_(self.output.weight)
        self.scale = d_model**-0.5

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(nn.functional.gelu(self.hidden(embeddings), approximate="tanh"))
        return self.output(hidden) * self.scale
