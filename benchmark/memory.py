"""
Memory to keep one task for reuse (paper §5.1, appendix C.2), float32:

- HINT, analytic: `cost.memory.cached_task_bytes` (encoded instruction d·t, adapters, prefixes);
- HINT, measured: the bytes of every tensor of the `TaskState` that the model keeps for the
  instruction (`compile_instruction`: what its task cache holds) (the same, plus the
  instruction mask, t bytes);
- the instruction's keys and values in every decoder cross-attention, which fusion makes from the
  encoded instruction in each forward pass and drops after it
  (`cost.memory.fused_instruction_bytes`);
- decoder-only key/value cache of the same instruction, for a decoder-only model of comparable size
  (`cost.memory.decoder_only_kv_cache_bytes`).
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from benchmark.harness import ResultRow
from benchmark.inference import SniShape, chunked_instruction, instruction_chunk_lengths
from hint_allennlp.cost.memory import (
    cached_task_bytes,
    decoder_only_kv_cache_bytes,
    fused_instruction_bytes,
)
from hint_allennlp.models.hint_seq2seq import HintSeq2Seq


@dataclass
class MemoryRow(ResultRow):
    shots: int
    instruction_length: int
    hint_analytic: int
    hint_measured: int
    decoder_only_kv_cache: int
    cross_attention_kv: int  # the instruction's keys and values in every decoder cross-attention


def task_memory(
    model: HintSeq2Seq,
    shots: Sequence[int],
    shape: Optional[SniShape] = None,
    instruction_window: Optional[int] = None,
) -> List[MemoryRow]:
    """
    The rows of `shots`; with `instruction_window`, instructions past it are read in chunks (as
    `inference.task_batches` gives them), which changes nothing of what is kept: the encoded
    instruction of all its t tokens, and the modules.
    """
    shape = shape or SniShape()
    config = model.t5.config
    generator = torch.Generator().manual_seed(2)
    rows = []
    for count in shots:
        length = shape.instruction_length(count)
        instruction = chunked_instruction(
            instruction_chunk_lengths(shape, count, instruction_window), generator
        )
        device = next(model.parameters()).device
        on_device = {name: tensor.to(device) for name, tensor in instruction["tokens"].items()}
        _, modules = model.eval().compile_instruction({"tokens": on_device})
        measured = sum(tensor.numel() * tensor.element_size() for _, tensor in modules.items())
        rows.append(
            MemoryRow(
                shots=count,
                instruction_length=length,
                hint_analytic=cached_task_bytes(
                    config, model.peft, length, keeps_encoded_instruction=True
                ),
                hint_measured=measured,
                decoder_only_kv_cache=decoder_only_kv_cache_bytes(config, length),
                cross_attention_kv=fused_instruction_bytes(config, length),
            )
        )
    return rows
