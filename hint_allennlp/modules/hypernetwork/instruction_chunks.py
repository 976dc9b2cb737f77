"""
Many-shot instructions past the encoder's window: an instruction given as chunks [B, C, c] (the
readers' `instruction_chunking`) is encoded chunk by chunk, each within the window, and the chunks'
encodings are concatenated into one encoded instruction [B, T, d] for the parameter generator and
for instruction fusion. An instruction of one chunk is encoded exactly as the same tokens given as
one sequence [B, t].

Nothing here is T5's: `encode` is any hypernetwork encoder's (token ids and mask [N, c] -> hidden
states [N, c, d]), so a causal LM's hypernetwork encoder can read chunked instructions the same way.
"""

from typing import Callable, Tuple

import torch

Encode = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def chunk_rows(instruction_mask: torch.Tensor) -> torch.Tensor:
    """
    The instruction (row of B) of each chunk that `encode_in_chunks` encodes, in the order it
    gives them to `encode`: [N], for an `encode` that needs per-instruction inputs (a causal LM's
    generated modules and prefix).
    """
    batch, chunks, _ = instruction_mask.shape
    rows = torch.arange(batch, device=instruction_mask.device).repeat_interleave(chunks)
    return rows[instruction_mask.reshape(batch * chunks, -1).any(-1)]


def encode_in_chunks(
    encode: Encode, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    `instruction_ids` and the boolean `instruction_mask`, [B, t] or chunks [B, C, c] (padded
    chunks and padding at the end of each) -> the encoded instruction [B, T, d] and its mask
    [B, T]: every chunk's real tokens in order, padding only on the right.
    """
    if instruction_ids.dim() == 2:
        return encode(instruction_ids, instruction_mask), instruction_mask
    batch, chunks, length = instruction_ids.shape
    flat_ids = instruction_ids.reshape(batch * chunks, length)  # [B * C, c]
    flat_mask = instruction_mask.reshape(batch * chunks, length)  # [B * C, c]
    # Instructions of fewer chunks than the batch's longest are padded with empty chunks: skipped.
    present = flat_mask.any(-1)  # [B * C]
    encoded = encode(flat_ids[present], flat_mask[present])  # [N, c, d]
    states = encoded.new_zeros(batch * chunks, length, encoded.size(-1))
    states = states.index_put((present.nonzero().squeeze(-1),), encoded)  # [B * C, c, d]
    states = states.view(batch, chunks * length, -1)  # [B, C * c, d]
    mask = flat_mask.view(batch, chunks * length)  # [B, C * c]
    # Real tokens first, in their order (a stable sort of the padding flags): [B, T]
    order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices
    order = order[:, : int(mask.sum(1).max())]
    return states.gather(1, order.unsqueeze(-1).expand(-1, -1, states.size(-1))), mask.gather(
        1, order
    )
