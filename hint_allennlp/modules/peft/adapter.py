"""How a generated adapter acts inside a T5 layer: parallel to the feed-forward block."""
import torch
import torch.nn.functional as F
from transformers.models.t5.modeling_t5 import T5LayerFF

from hint_allennlp.modules.peft.task_parameters import per_example_bias, per_example_matmul


class AdapterT5LayerFF(T5LayerFF):
    """
    `T5LayerFF` with an adapter parallel to the feed-forward block (He et al., 2022), reading the
    same pre-FFN layer norm:

        x + FFN(LN(x)) + GELU(LN(x) W_down + b_down) W_up + b_up

    with W_down, b_down, W_up, b_up taken from the active `TaskModules` at this layer's slot (decoder
    layers use the adapter generated for their self-attention slot). Without active modules this is
    exactly `T5LayerFF`.
    """

    @classmethod
    def convert(cls, layer: T5LayerFF, ffn_slot: int, active) -> "AdapterT5LayerFF":
        layer.__class__ = cls
        layer.ffn_slot = ffn_slot
        layer.active = active
        return layer

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        normed = self.layer_norm(hidden_states)
        output = hidden_states + self.dropout(self.DenseReluDense(normed))
        modules = self.active.current
        adapter = modules.adapter(self.ffn_slot) if modules is not None else None
        if adapter is None:
            return output
        down, down_bias, up, up_bias = adapter
        # [B, seq, d] -> [B, seq, a] -> [B, seq, d]
        bottleneck = F.gelu(per_example_matmul(normed, down) + per_example_bias(down_bias), approximate="tanh")
        return output + per_example_matmul(bottleneck, up) + per_example_bias(up_bias)
