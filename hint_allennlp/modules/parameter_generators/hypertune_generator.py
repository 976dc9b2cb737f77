import torch
from torch import nn
from transformers import T5Config
from transformers.models.t5.modeling_t5 import T5LayerNorm

from hint_allennlp.modules.parameter_generators.cross_attention_generator import CrossAttentionGenerator
from hint_allennlp.modules.parameter_generators.instruction_attention import InstructionAttention
from hint_allennlp.modules.parameter_generators.parameter_generator import ParameterGenerator, init_variance_preserving
from hint_allennlp.modules.peft_config import PeftConfig


class _CrossAttentionBlock(nn.Module):
    """A T5-decoder-style layer without self-attention: pre-norm cross-attention and FFN, residual."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.attention_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.attention = InstructionAttention(config.d_model, config.num_heads, config.d_kv)
        self.ffn_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.ffn = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff, bias=False),
            nn.GELU(approximate="tanh"),
            nn.Linear(config.d_ff, config.d_model, bias=False),
        )
        init_variance_preserving(self.ffn, truncated=True)

    def forward(self, queries: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        queries = queries + self.attention(self.attention_norm(queries), states, mask)
        return queries + self.ffn(self.ffn_norm(queries))


@ParameterGenerator.register("hypertune")
class HyperTuneGenerator(CrossAttentionGenerator):
    """
    The HyperTune-like baseline (Phang et al., 2022): the learned embeddings pass through a stack of
    T5-decoder-style blocks (cross-attention to the instruction and FFN, no self-attention) before the
    component MLPs. The paper's baseline generates prefixes only: configure `peft` accordingly.

    # Parameters

    t5_config : `T5Config`
        Supplied by the model.
    peft : `PeftConfig`
        Supplied by the model.
    num_layers : `int`, optional (default = `2`)
        Blocks in the stack.
    mlp_dropout : `float`, optional (default = `0.0`)
    """

    def __init__(self, t5_config: T5Config, peft: PeftConfig, num_layers: int = 2, mlp_dropout: float = 0.0) -> None:
        super().__init__(t5_config, peft, mlp_dropout)
        del self.attention  # replaced by the stack
        self.blocks = nn.ModuleList(_CrossAttentionBlock(t5_config) for _ in range(num_layers))
        self.final_norm = T5LayerNorm(t5_config.d_model, eps=t5_config.layer_norm_epsilon)

    def mix(self, queries: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        queries = queries.expand(states.size(0), -1, -1)
        for block in self.blocks:
            queries = block(queries, states, mask)
        return self.final_norm(queries)
