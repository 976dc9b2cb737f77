import torch
from torch import nn

from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    init_variance_preserving,
)


class InstructionAttention(nn.Module):
    """
    Multi-head attention from generator queries to the encoded instruction: heads and head size as
    the T5's, no biases, no residual and no layer norm; dropout on the attention weights at
    `dropout` (the reference's `hyperattn` uses the model's dropout rate).

    queries [Bq, Q, d] with Bq in {1, B}; states [B, t, d]; mask [B, t] bool -> [B, Q, d].
    """

    def __init__(self, d_model: int, num_heads: int, head_size: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.num_heads = num_heads
        self.head_size = head_size
        inner = num_heads * head_size
        self.query = nn.Linear(d_model, inner, bias=False)
        self.key = nn.Linear(d_model, inner, bias=False)
        self.value = nn.Linear(d_model, inner, bias=False)
        self.output = nn.Linear(inner, d_model, bias=False)
        init_variance_preserving(self, truncated=False)

    def _split_heads(self, states: torch.Tensor) -> torch.Tensor:
        # [B, len, H * k] -> [B, H, len, k]
        return states.view(states.size(0), -1, self.num_heads, self.head_size).transpose(1, 2)

    def forward(
        self, queries: torch.Tensor, states: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        batch_size = states.size(0)
        query = self._split_heads(self.query(queries)).expand(batch_size, -1, -1, -1)
        key, value = self._split_heads(self.key(states)), self._split_heads(self.value(states))
        # mask [B, t] -> [B, 1, 1, t], True where attended
        mixed = nn.functional.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=mask[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )
        # [B, H, Q, k] -> [B, Q, H * k]
        mixed = mixed.transpose(1, 2).reshape(batch_size, -1, self.num_heads * self.head_size)
        return self.output(mixed)
