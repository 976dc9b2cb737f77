"""
A causal LM's logits only where they are used: the LM head (the model's output embeddings) run at
the positions that predict something, not over every position of the sequence. transformers 4.49
computes GPT-2's and OPT's logits at every position (Llama's and Qwen2's take `logits_to_keep`,
which `generate` sets to the last position).
"""

from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from transformers import PreTrainedModel


@contextmanager
def logits_only_at(model: PreTrainedModel, positions: Optional[torch.Tensor]) -> Iterator[None]:
    """
    Within the context `model`'s logits are [R, c, V], at `positions` [R, c] of each row, or with
    `positions` None [R, 1, V], at the last position (generation).
    """

    def select(module: torch.nn.Module, args: tuple) -> tuple:
        hidden = args[0]  # [R, n, d]
        if positions is None:
            picked = hidden[:, -1:]
        else:
            picked = hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))
        return (picked,) + tuple(args[1:])

    handle = model.get_output_embeddings().register_forward_pre_hook(select)
    try:
        yield
    finally:
        handle.remove()
