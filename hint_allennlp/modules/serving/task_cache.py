import hashlib
from collections import OrderedDict
from typing import Dict, Optional

import torch

from hint_allennlp.modules.inserted.task_state import TaskState


def instruction_key(instruction_ids: torch.Tensor) -> str:
    """A hash of the exact hypernetwork input: the instruction's token ids without padding, [t]."""
    return hashlib.sha256(instruction_ids.to(torch.int64).cpu().numpy().tobytes()).hexdigest()


class TaskCache:
    """
    A bounded least-recently-used cache of what the hypernetwork produced for an instruction (the
    generated tensors and encoded instruction, batch size 1), keyed by `instruction_key`. The model
    uses it only in evaluation and empties it whenever it trains, since the cached values depend on
    the weights. Pinned entries (compiled tasks) are never evicted.

    # Parameters

    max_size : `int`
        How many instructions to keep; 0 disables the cache.
    """

    def __init__(self, max_size: int) -> None:
        if max_size < 0:
            raise ValueError(f"The task cache size must be >= 0, got {max_size}")
        self.max_size = max_size
        self._entries: "OrderedDict[str, TaskState]" = OrderedDict()
        self._pinned: Dict[str, TaskState] = {}

    def __len__(self) -> int:
        return len(self._entries) + len(self._pinned)

    def __contains__(self, key: str) -> bool:
        return key in self._pinned or key in self._entries

    @property
    def enabled(self) -> bool:
        return self.max_size > 0 or bool(self._pinned)

    def pin(self, key: str, parameters: TaskState) -> None:
        self._pinned[key] = parameters

    def get(self, key: str) -> Optional[TaskState]:
        if key in self._pinned:
            return self._pinned[key]
        parameters = self._entries.get(key)
        if parameters is not None:
            self._entries.move_to_end(key)
        return parameters

    def put(self, key: str, parameters: TaskState) -> None:
        if self.max_size == 0:
            return
        self._entries[key] = parameters
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
        self._pinned.clear()
