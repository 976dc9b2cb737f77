import logging
import math
import random
from collections import Counter, deque
from typing import Deque, Dict, Hashable, List, Optional, Sequence, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.data.samplers import BatchSampler

logger = logging.getLogger(__name__)

# A chunk: the task it holds (None for a chunk of leftovers of several tasks) and its indices.
Chunk = Tuple[Optional[Hashable], List[int]]
# How far (in batches' worth of chunks) a batch looks ahead for chunks of tasks not yet in it.
LOOKAHEAD = 8


@BatchSampler.register("task_grouped")
class TaskGroupedBatchSampler(BatchSampler):
    """
    Batches of `tasks_per_batch` tasks × `examples_per_task` examples of each, so that the
    hypernetwork runs `tasks_per_batch` times per batch (once per distinct instruction) instead of
    once per example, as in batches that mix every task.

    Each pass over the instances (each call of `get_batch_indices`):

    1. the instances are grouped by their task (the `task` of their metadata) and each task's
       instances shuffled;
    2. each task is cut into chunks of `examples_per_task`; what is left of a task beyond its
       whole chunks (fewer than `examples_per_task`) is never dropped: the leftovers of all tasks
       are pooled, shuffled and cut into chunks of `examples_per_task` of mixed tasks (the last
       one possibly shorter, kept last), and how many instances went so is logged;
    3. the chunks are shuffled and each batch takes the next `tasks_per_batch` chunks of distinct
       tasks (`_batches`; a chunk of a task already in the batch is taken when no other task is
       in reach, as at the end of a pass where few tasks are left).

    So every instance is in exactly one batch per pass, every batch but the last holds
    `tasks_per_batch` chunks, and a pass has `ceil(chunks / tasks_per_batch)` batches.

    The order comes from a generator of its own, seeded by `seed` and the number of the pass: the
    same instances give the same batches in every run, and `allennlp train --recover`, which
    replays the data loader through the passes already done, sees the batches of the
    uninterrupted run. With `max_instances_in_memory` a pass is one chunk of instances that the
    data loader holds at a time. Under distributed training each worker gets its share of the
    instances from the reader (every n-th instance) and groups its own share with the same seed:
    each worker's batches hold `tasks_per_batch` tasks, and the workers together see every
    instance once per pass; the workers' batches of one step need not hold the same tasks.

    # Parameters

    tasks_per_batch : `int`
        Tasks in a batch (g).
    examples_per_task : `int`
        Examples of each task in a batch (m); a batch holds `tasks_per_batch * examples_per_task`.
    seed : `int`, optional (default = `0`)
        Seeds the order of every pass.
    """

    def __init__(self, tasks_per_batch: int, examples_per_task: int, seed: int = 0) -> None:
        if tasks_per_batch < 1 or examples_per_task < 1:
            raise ConfigurationError(
                "task_grouped: tasks_per_batch and examples_per_task must be positive, got "
                f"{tasks_per_batch} and {examples_per_task}."
            )
        self.tasks_per_batch = tasks_per_batch
        self.examples_per_task = examples_per_task
        self.seed = seed
        self._passes = 0

    def get_batch_indices(self, instances: Sequence[Instance]) -> List[List[int]]:
        # Drawn now rather than lazily, so that the pass number is the call's.
        generator = random.Random(f"task_grouped {self.seed} {self._passes}")
        self._passes += 1
        chunks, leftover_count = self._chunks(instances, generator)
        # The pooled leftovers' last chunk may be short: it goes last, so that only the last
        # batch of a pass can be smaller.
        short = chunks.pop() if chunks and len(chunks[-1][1]) < self.examples_per_task else None
        generator.shuffle(chunks)
        batches = self._batches(chunks)
        if short is not None:
            if batches and len(batches[-1]) < self.get_batch_size():
                batches[-1] += short[1]
            else:
                batches.append(short[1])
        logger.info(
            "task_grouped: %d instances in %d batches of %d tasks x %d examples; %d instances "
            "beyond their task's whole chunks are in batches with chunks of mixed tasks.",
            len(instances),
            len(batches),
            self.tasks_per_batch,
            self.examples_per_task,
            leftover_count,
        )
        return batches

    def get_num_batches(self, instances: Sequence[Instance]) -> int:
        sizes = Counter(_task(instance, index) for index, instance in enumerate(instances))
        whole = sum(size // self.examples_per_task for size in sizes.values())
        leftovers = sum(size % self.examples_per_task for size in sizes.values())
        chunks = whole + math.ceil(leftovers / self.examples_per_task)
        return math.ceil(chunks / self.tasks_per_batch)

    def get_batch_size(self) -> int:
        return self.tasks_per_batch * self.examples_per_task

    def _chunks(
        self, instances: Sequence[Instance], generator: random.Random
    ) -> Tuple[List[Chunk], int]:
        """Each task's whole chunks, then the pooled leftovers' chunks; and the leftover count."""
        by_task: Dict[Hashable, List[int]] = {}
        for index, instance in enumerate(instances):
            by_task.setdefault(_task(instance, index), []).append(index)
        size = self.examples_per_task
        chunks: List[Chunk] = []
        leftovers: List[int] = []
        for task, indices in by_task.items():
            generator.shuffle(indices)
            whole = len(indices) - len(indices) % size
            chunks += [(task, indices[start : start + size]) for start in range(0, whole, size)]
            leftovers += indices[whole:]
        generator.shuffle(leftovers)
        chunks += [
            (None, leftovers[start : start + size]) for start in range(0, len(leftovers), size)
        ]
        return chunks, len(leftovers)

    def _batches(self, chunks: List[Chunk]) -> List[List[int]]:
        """
        Each batch: the next chunks of tasks not yet in it, up to `tasks_per_batch`, looking at
        most `LOOKAHEAD` times that many chunks ahead; the chunks passed over come first in the
        next batch, or fill this one when no other task is in reach.
        """
        batches: List[List[int]] = []
        waiting: Deque[Chunk] = deque(chunks)
        reach = LOOKAHEAD * self.tasks_per_batch
        while waiting:
            taken: List[Chunk] = []
            passed_over: List[Chunk] = []
            tasks: set = set()
            while waiting and len(taken) < self.tasks_per_batch and len(passed_over) < reach:
                chunk = waiting.popleft()
                if chunk[0] is None or chunk[0] not in tasks:
                    taken.append(chunk)
                    tasks.add(chunk[0])
                else:
                    passed_over.append(chunk)
            while passed_over and len(taken) < self.tasks_per_batch:
                taken.append(passed_over.pop(0))
            waiting.extendleft(reversed(passed_over))
            batches.append([index for _, indices in taken for index in indices])
        return batches


def _task(instance: Instance, index: int) -> Hashable:
    metadata = instance.fields.get("metadata")
    task = None if metadata is None else metadata.metadata.get("task")  # type: ignore[attr-defined]
    if task is None:
        raise ConfigurationError(
            f"task_grouped: instance {index} has no `task` in its metadata; the sampler groups "
            "instances by it. Use this package's readers, or mixed batches (the data loader's "
            "batch_size and shuffle)."
        )
    return task
