import logging
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, TypeVar

import torch.distributed as dist
from allennlp.common.util import is_distributed
from allennlp.training.metrics.metric import Metric

logger = logging.getLogger(__name__)

# The group of all instances: its metrics are reported under the bare value name.
ALL_INSTANCES = ""
T = TypeVar("T")


def metric_key_suffix(group_name: str) -> str:
    """
    The form a task or category name takes in a metric key: lowercase, every run of characters other
    than letters and digits replaced by one underscore, none at either end ("Question Answering" ->
    "question_answering", "Misc." -> "misc", "task1557_jfleg_answer_generation" unchanged). For
    names made of words and spaces this is Tk-Instruct's `"_".join(category.lower().split())`; the
    rest of the rule keeps keys safe for loggers such as TensorBoard.
    """
    suffix = re.sub(r"[^a-z0-9]+", "_", group_name.lower()).strip("_")
    if not suffix:
        raise ValueError(f"{group_name!r} has no letters or digits to name a metric key with.")
    return suffix


class GroupTotals(NamedTuple):
    count: int
    sums: Dict[str, float]


class GroupedSums:
    """
    Running sums of named per-instance values, and instance counts, over all instances, per task and
    per task category. The metrics of this package keep their state in one of these.

    Under distributed training every batch's sums are all-gathered and added on every worker, so all
    workers hold the same totals, with the same groups, whichever examples each of them saw (a group
    that only one worker has seen reaches the others through the gather). A dict of objects is
    gathered rather than tensors reduced because the groups differ between workers. Every worker
    must therefore call `add` the same number of times, as a model's `forward` is under AllenNLP's
    trainer.

    # Parameters

    value_names : `Sequence[str]`
        Names of the values given for each instance, in the order `add` receives them; they are also
        the metric names in `averages`.
    """

    def __init__(self, value_names: Sequence[str]) -> None:
        self.value_names = tuple(value_names)
        # group -> [instance count, sum of each value]
        self._totals: Dict[str, List[float]] = {}

    def add(
        self,
        values: Sequence[Sequence[float]],
        tasks: Optional[Sequence[str]] = None,
        categories: Optional[Sequence[Sequence[str]]] = None,
    ) -> None:
        """
        Adds one batch: `values[k]` are instance k's values (in `value_names` order), `tasks[k]` its
        task and `categories[k]` its task categories. An instance counts once in each of its groups;
        an empty task or category name means none.
        """
        for name, given in (("tasks", tasks), ("categories", categories)):
            if given is not None and len(given) != len(values):
                raise ValueError(f"Got {len(values)} instances but {len(given)} {name}.")
        batch_totals: Dict[str, List[float]] = {}
        for index, instance_values in enumerate(values):
            if len(instance_values) != len(self.value_names):
                raise ValueError(f"Expected values {self.value_names}, got {instance_values}.")
            names = list(categories[index]) if categories is not None else []
            if tasks is not None:
                names.append(tasks[index])
            # In first-seen order (a set's would follow the hash seed: metrics keys in another
            # order from run to run); an instance counts once per group.
            groups = dict.fromkeys(
                [ALL_INSTANCES, *(metric_key_suffix(name) for name in names if name)]
            )
            for group in groups:
                _accumulate(batch_totals, group, [1.0, *map(float, instance_values)])
        for worker_totals in gather_from_all_workers(batch_totals):
            for group, totals in worker_totals.items():
                _accumulate(self._totals, group, totals)

    @property
    def totals(self) -> Dict[str, GroupTotals]:
        """Count and sums of each group seen, keyed by `ALL_INSTANCES` or the group's key suffix."""
        return {
            group: GroupTotals(int(totals[0]), dict(zip(self.value_names, totals[1:])))
            for group, totals in self._totals.items()
        }

    def averages(self, per_group: bool = True) -> Dict[str, float]:
        """
        The mean of each value over each group, keyed `<value name>` for all instances (0.0 before
        any instance, so that the key always exists, e.g. for a trainer's `validation_metric`) and,
        with `per_group`, `<value name>_<group>` for every task and category seen.
        """
        averages = {name: 0.0 for name in self.value_names}
        for group, (count, sums) in self.totals.items():
            if group != ALL_INSTANCES and not per_group:
                continue
            for name, value_sum in sums.items():
                key = name if group == ALL_INSTANCES else f"{name}_{group}"
                averages[key] = value_sum / count
        return averages

    def table(self) -> str:
        """
        Every group's count and averages, one line each (all instances first, then the groups by
        name), aligned for a log.
        """
        rows = [
            [
                group or "all",
                str(count),
                *(f"{value_sum / count:.2f}" for value_sum in sums.values()),
            ]
            for group, (count, sums) in sorted(self.totals.items())
        ]
        header = ["task or category", "instances", *self.value_names]
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
        return "\n".join(
            "  ".join(
                cell.ljust(width) if column == 0 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(row, widths))
            )
            for row in [header, *rows]
        )

    def reset(self) -> None:
        self._totals = {}


class GroupedAveragesMetric(Metric):
    """
    A metric whose state is one `GroupedSums`: subclasses `add` per-instance values to `_sums` in
    their `__call__`; it reports their averages (`GroupedSums.averages`), on every worker alike.

    While an evaluation runs (`get_metric()`, which AllenNLP's trainer and `allennlp evaluate`
    call after every batch for their progress line) only the averages over all instances: a key per
    task and category would make that line kilobytes long. At the end (`get_metric(reset=True)`:
    what `metrics.json`, `allennlp evaluate --output-file` and the trainer's epoch metrics get) the
    per-task and per-category averages too, under the same keys, and their table is logged.
    """

    supports_distributed = True

    def __init__(self, value_names: Sequence[str]) -> None:
        self._sums = GroupedSums(value_names)

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        if not reset:
            return self._sums.averages(per_group=False)
        metrics = self._sums.averages()
        if len(self._sums.totals) > 1:
            logger.info("%s per task and category:\n%s", type(self).__name__, self._sums.table())
        self.reset()
        return metrics

    def reset(self) -> None:
        self._sums.reset()


def _accumulate(totals: Dict[str, List[float]], group: str, addend: Sequence[float]) -> None:
    current = totals.setdefault(group, [0.0] * len(addend))
    for position, value in enumerate(addend):
        current[position] += value


def gather_from_all_workers(value: T) -> List[T]:
    """
    Every worker's `value` (e.g. its batch totals), in rank order so that all workers combine them
    identically; every worker must call this the same number of times.
    """
    if not is_distributed():
        return [value]
    gathered: List[T] = [None for _ in range(dist.get_world_size())]  # type: ignore[misc]
    dist.all_gather_object(gathered, value)
    return gathered
