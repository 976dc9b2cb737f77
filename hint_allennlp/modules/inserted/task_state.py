"""
The tensors a parameter generator produces for a batch of tasks (`TaskState`), how they are
batched, and the switch through which the layers injected into T5 read them
(`ActiveTaskState`).

Every tensor has a leading batch dimension `Bm`. `Bm` is either the batch size (mixed-task batches:
each example its own parameters) or 1 (one task for the whole batch, broadcast to every example
without copies). Per-layer tensors are [Bm, S, ...], one entry per slot (`BackboneShape`'s
counts, `hint_allennlp/modules/backbones/`); in a T5 with E encoder and D decoder layers
(`backbones/t5.py`):

- feed-forward slots (adapters): encoder layer i -> i, decoder layer j -> E + j;
- attention slots (prefixes, LoRA): encoder self-attention i -> i, decoder self-attention
  j -> E + 2j, decoder cross-attention j -> E + 2j + 1;

in a decoder-only model with L layers (`backbones/decoder_only.py`), both: layer l -> l.

Each module kind names and documents its keys and shapes in its own file (`adapter.py`, `prefix.py`,
`lora.py`); beside them, for instruction fusion and caching:

| key | shape |
|---|---|
| `instruction_states` | [Bm, t, d_model] (the encoded instruction) |
| `instruction_mask` | [Bm, t] (bool) |

A decoder-only model keeps an instruction's keys and values in the same structure
(`modules/serving/instruction_key_values.py`): `instruction_mask` and `past_keys`, `past_values`
[Bm, t, layers, kv_heads, head_dim]. Every tensor of `INSTRUCTION_LENGTH_KEYS` has the
instruction's length as its dimension 1: padded there when instructions are batched, trimmed there
to the real length when one is kept.

Parameters gathered per example (`index_select`, `repeat_interleave`) remember the parameters they
were gathered from, one row per distinct instruction, and which row each example took
(`distinct_instructions`): instruction fusion projects each distinct instruction once
(`instruction_fusion.py`).
"""

from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Tuple

import torch

# The encoded instruction's keys (the table above): what the hypernetwork keeps for fusion.
INSTRUCTION_STATES = "instruction_states"
INSTRUCTION_MASK = "instruction_mask"
ENCODED_INSTRUCTION_KEYS = (INSTRUCTION_STATES, INSTRUCTION_MASK)
# A decoder-only model's keys and values of the instruction (`instruction_key_values.py`).
PAST_KEYS, PAST_VALUES = "past_keys", "past_values"
# The tensors with the instruction's length as their dimension 1 (the instruction's mask says
# which positions are real): padded when tasks are stacked, trimmed when one is kept.
INSTRUCTION_LENGTH_KEYS = ENCODED_INSTRUCTION_KEYS + (PAST_KEYS, PAST_VALUES)


def encoded_instruction_tensors(
    states: torch.Tensor, mask: torch.Tensor
) -> Dict[str, torch.Tensor]:
    """The `TaskState` tensors of an encoded instruction [Bm, t, d] with its mask [Bm, t]."""
    return {INSTRUCTION_STATES: states, INSTRUCTION_MASK: mask}


class TaskState:
    """
    A name -> tensor mapping (keys in the module docstring) with the operations the model needs:
    per-slot access for the layers that use them, and batch re-indexing.
    """

    def __init__(
        self,
        tensors: Dict[str, torch.Tensor],
        gathered_from: Optional["TaskState"] = None,
        rows: Optional[torch.Tensor] = None,
    ) -> None:
        batch_sizes = {tensor.size(0) for tensor in tensors.values()}
        if len(batch_sizes) > 1:
            raise ValueError(f"Generated tensors disagree on the batch size: {sorted(batch_sizes)}")
        self.tensors = tensors
        # The parameters these rows were gathered from and, per row here, its row there [Bm].
        self._gathered_from = gathered_from
        self._rows = rows
        # Tensors derived from these without gradient, kept for the life of this object
        # (`TaskVectorT5Attention`: a cross-attention's keys and values of the instruction in
        # generation).
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

    @property
    def encoded_instruction(self) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """(states [Bm, t, d], mask [Bm, t] bool) of the encoded instruction, None without one."""
        if INSTRUCTION_STATES not in self.tensors:
            return None
        return self.tensors[INSTRUCTION_STATES], self.tensors[INSTRUCTION_MASK]

    def at_slot(self, keys: Tuple[str, ...], slot: int) -> Optional[Tuple[torch.Tensor, ...]]:
        """
        Each tensor of `keys` at `slot` ([Bm, S, ...] -> [Bm, ...]), or None if these have no
        `keys[0]`.
        """
        if keys[0] not in self.tensors:
            return None
        return tuple(self.tensors[key][:, slot] for key in keys)

    def distinct_instructions(self) -> Tuple["TaskState", Optional[torch.Tensor]]:
        """
        (the parameters these were gathered from, one row per distinct instruction; for each row
        here its row there [Bm], or None when these are those parameters themselves).
        """
        if self._gathered_from is None:
            return self, None
        return self._gathered_from, self._rows

    def map(self, function) -> "TaskState":
        return TaskState({key: function(tensor) for key, tensor in self.tensors.items()})

    def index_select(self, index: torch.Tensor) -> "TaskState":
        """Rows `index` of every tensor: from one row per distinct task to one row per example."""
        distinct, rows = self.distinct_instructions()
        return TaskState(
            {key: tensor.index_select(0, index) for key, tensor in self.tensors.items()},
            gathered_from=distinct,
            rows=index if rows is None else rows.index_select(0, index),
        )

    def repeat_interleave(self, repeats: int) -> "TaskState":
        """Each row `repeats` times in a row, as HF `generate` expands inputs for beam search."""
        if self.batch_size == 1 or repeats == 1:
            return self
        index = torch.arange(self.batch_size, device=next(iter(self.tensors.values())).device)
        return self.index_select(index.repeat_interleave(repeats))

    def without_instruction_padding(self) -> "TaskState":
        """
        Batch-size-1 parameters with the encoded instruction cut to its real length (for caching).
        """
        if INSTRUCTION_MASK not in self.tensors:
            return self
        length = int(self.tensors[INSTRUCTION_MASK].sum())
        trimmed = dict(self.tensors)
        for key in INSTRUCTION_LENGTH_KEYS:
            if key in trimmed:
                trimmed[key] = trimmed[key][:, :length]
        return TaskState(trimmed)

    @staticmethod
    def concatenate(parts: "list[TaskState]") -> "TaskState":
        """
        Stacks parameters along the batch; encoded instructions of different lengths are padded.
        """
        concatenated = {}
        for key in parts[0].tensors:
            tensors = [part[key] for part in parts]
            if key in INSTRUCTION_LENGTH_KEYS:
                length = max(tensor.size(1) for tensor in tensors)
                tensors = [_pad_dim1(tensor, length) for tensor in tensors]
            concatenated[key] = torch.cat(tensors)
        return TaskState(concatenated)


class ActiveTaskState:
    """
    The `TaskState` the injected layers use in the forward pass under way, set by the model
    with `use(...)`: `use(None)` runs the backbone with its generated modules off on purpose (plain
    T5, e.g. the hypernetwork encoding an instruction with the shared encoder). A layer that reads
    them outside any `use` (the backbone called on its own) is refused: it would silently run
    without the modules the model would have given it.
    """

    def __init__(self) -> None:
        self._parameters: Optional[TaskState] = None
        self._depth = 0  # how many `use` blocks are open

    @property
    def current(self) -> Optional[TaskState]:
        if self._depth == 0:
            raise RuntimeError(
                "A layer with generated modules (adapters, prefixes, LoRA or instruction fusion) "
                "ran outside its model's forward pass, so it has no modules to read: call the "
                "model (its forward, generate or rank classification), or run the backbone inside "
                "`model.active_task_state.use(parameters)` (`use(None)`: modules off, plain "
                "backbone)."
            )
        return self._parameters

    @contextmanager
    def use(self, parameters: Optional[TaskState]) -> Iterator[None]:
        previous, self._parameters = self._parameters, parameters
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            self._parameters = previous


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
