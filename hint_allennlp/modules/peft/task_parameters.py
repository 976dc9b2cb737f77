"""
The tensors a parameter generator produces for a batch of tasks, and how they are batched.

Every tensor has a leading batch dimension `Bm`. `Bm` is either the batch size (mixed-task batches:
each example its own modules) or 1 (one task for the whole batch, broadcast to every example without
copies). Slot layout, with E encoder and D decoder layers (see `injection.py`):

- feed-forward slots (adapters): encoder layer i -> i, decoder layer j -> E + j;
- attention slots (prefixes, LoRA): encoder self-attention i -> i, decoder self-attention
  j -> E + 2j, decoder cross-attention j -> E + 2j + 1.

| key | shape |
|---|---|
| `adapter_down` | [Bm, E + D, d_model, a] |
| `adapter_down_bias` | [Bm, E + D, a] |
| `adapter_up` | [Bm, E + D, a, d_model] |
| `adapter_up_bias` | [Bm, E + D, d_model] |
| `prefix_key`, `prefix_value` | [Bm, E + 2D, heads, P, d_kv] |
| `lora_{p}_a`, p in `PeftConfig.lora_projections` (q and v by default) | [Bm, E + 2D, in_features, r] |
| `lora_{p}_b` | [Bm, E + 2D, r, out_features] |
| `instruction_states` | [Bm, t, d_model] (the encoded instruction, for fusion and caching) |
| `instruction_mask` | [Bm, t] (bool) |

Modules gathered per example (`index_select`, `repeat_interleave`) remember the modules they were
gathered from, one row per distinct instruction, and which row each example took
(`distinct_instructions`): instruction fusion projects each distinct instruction once
(`instruction_fusion.py`).
"""
from typing import Dict, Iterator, Optional, Tuple

import torch

LORA_PROJECTIONS = ("q", "k", "v", "o")


class TaskModules:
    """
    A name -> tensor mapping (keys in the module docstring) with the operations the model needs:
    per-slot access for the layers that use the modules, and batch re-indexing.
    """

    def __init__(
        self,
        tensors: Dict[str, torch.Tensor],
        gathered_from: Optional["TaskModules"] = None,
        rows: Optional[torch.Tensor] = None,
    ) -> None:
        batch_sizes = {tensor.size(0) for tensor in tensors.values()}
        if len(batch_sizes) > 1:
            raise ValueError(f"Generated tensors disagree on the batch size: {sorted(batch_sizes)}")
        self.tensors = tensors
        # The modules these rows were gathered from and, per row here, its row there [Bm].
        self._gathered_from = gathered_from
        self._rows = rows
        # Tensors derived from these modules without gradient, kept for the life of this object
        # (`PrefixT5Attention`: a cross-attention's keys and values of the instruction in generation).
        self.derived: Dict[object, Tuple[torch.Tensor, ...]] = {}

    @property
    def batch_size(self) -> int:
        return next(iter(self.tensors.values())).size(0) if self.tensors else 1

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key]

    def items(self) -> Iterator[Tuple[str, torch.Tensor]]:
        return iter(self.tensors.items())

    def adapter(self, ffn_slot: int) -> Optional[Tuple[torch.Tensor, ...]]:
        """(down [Bm, d, a], down_bias [Bm, a], up [Bm, a, d], up_bias [Bm, d]) or None."""
        if "adapter_down" not in self.tensors:
            return None
        return tuple(
            self.tensors[key][:, ffn_slot]
            for key in ("adapter_down", "adapter_down_bias", "adapter_up", "adapter_up_bias")
        )

    def prefix(self, attention_slot: int) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """(keys, values), each [Bm, heads, P, d_kv], or None."""
        if "prefix_key" not in self.tensors:
            return None
        return self.tensors["prefix_key"][:, attention_slot], self.tensors["prefix_value"][:, attention_slot]

    def distinct_instructions(self) -> Tuple["TaskModules", Optional[torch.Tensor]]:
        """
        (the modules these were gathered from, one row per distinct instruction; for each row here its
        row there [Bm], or None when these are those modules themselves).
        """
        if self._gathered_from is None:
            return self, None
        return self._gathered_from, self._rows

    def lora(self, attention_slot: int, projection: str) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """(A [Bm, in, r], B [Bm, r, out]) for projection q, k, v or o, or None."""
        key = f"lora_{projection}_a"
        if key not in self.tensors:
            return None
        return self.tensors[key][:, attention_slot], self.tensors[f"lora_{projection}_b"][:, attention_slot]

    def map(self, function) -> "TaskModules":
        return TaskModules({key: function(tensor) for key, tensor in self.tensors.items()})

    def index_select(self, index: torch.Tensor) -> "TaskModules":
        """Rows `index` of every tensor: from one row per distinct task to one row per example."""
        distinct, rows = self.distinct_instructions()
        return TaskModules(
            {key: tensor.index_select(0, index) for key, tensor in self.tensors.items()},
            gathered_from=distinct,
            rows=index if rows is None else rows.index_select(0, index),
        )

    def repeat_interleave(self, repeats: int) -> "TaskModules":
        """Each row `repeats` times in a row, as HF `generate` expands inputs for beam search."""
        if self.batch_size == 1 or repeats == 1:
            return self
        index = torch.arange(self.batch_size, device=next(iter(self.tensors.values())).device)
        return self.index_select(index.repeat_interleave(repeats))

    def without_instruction_padding(self) -> "TaskModules":
        """Batch-size-1 modules with the encoded instruction cut to its real length (for caching)."""
        if "instruction_mask" not in self.tensors:
            return self
        length = int(self.tensors["instruction_mask"].sum())
        trimmed = dict(self.tensors)
        trimmed["instruction_states"] = trimmed["instruction_states"][:, :length]
        trimmed["instruction_mask"] = trimmed["instruction_mask"][:, :length]
        return TaskModules(trimmed)

    @staticmethod
    def concatenate(parts: "list[TaskModules]") -> "TaskModules":
        """Stacks modules along the batch; encoded instructions of different lengths are padded."""
        concatenated = {}
        for key in parts[0].tensors:
            tensors = [part[key] for part in parts]
            if key in ("instruction_states", "instruction_mask"):
                length = max(tensor.size(1) for tensor in tensors)
                tensors = [_pad_dim1(tensor, length) for tensor in tensors]
            concatenated[key] = torch.cat(tensors)
        return TaskModules(concatenated)


def _pad_dim1(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """Zero- (or False-) pads [Bm, t, ...] to [Bm, length, ...]."""
    padding = tensor.new_zeros((tensor.size(0), length - tensor.size(1)) + tuple(tensor.shape[2:]))
    return torch.cat([tensor, padding], dim=1)


def per_example_matmul(inputs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """
    `inputs` [B, seq, in] times a generated `weight` [Bm, in, out] -> [B, seq, out]. With Bm == 1
    (one task for the batch) this is a single plain matmul; otherwise one batched matmul, never a
    Python loop over examples.
    """
    if weight.size(0) == 1:
        return inputs @ weight[0]
    return torch.bmm(inputs, weight)


def per_example_bias(bias: torch.Tensor) -> torch.Tensor:
    """A generated bias [Bm, n] as [Bm, 1, n], to broadcast over the sequence."""
    return bias.unsqueeze(1)
