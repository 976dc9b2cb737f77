from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from allennlp.training.metrics.metric import Metric

from hint_allennlp.metrics.grouped_sums import (
    GroupedAveragesMetric,
    gather_from_all_workers,
    metric_key_suffix,
)

ChoiceIndices = Union[Sequence[int], torch.Tensor]
PROMPT_AVERAGED = "prompt_averaged_accuracy"


@Metric.register("rank_classification_accuracy")
class RankClassificationAccuracy(GroupedAveragesMetric):
    """
    Accuracy of rank classification (P3 / T0 evaluation): the model scores every answer choice (sum
    of target-token log-probabilities), predicts the best-scoring one and passes the chosen and the
    gold choice indices here.

    Keys: `accuracy` over all instances and `accuracy_<group>` per task and per task category seen
    (groups named as in `InstructionMetrics`). In percent, like the SNI metrics of this package and
    the paper's tables. Under distributed training all workers report the global accuracy.

    With `prompt_groups` (P3: each task's dataset, then for ANLI its round), also the paper's
    Table 10 averages, in which every prompt (task) counts once whatever its number of instances:
    `prompt_averaged_accuracy_<group>` is the mean of the accuracies of the group's members, which
    are its tasks or, where its tasks name a finer group after it, those groups (ANLI: the mean of
    the three rounds' means over their prompts); `prompt_averaged_accuracy` is the mean over the
    coarsest groups (Table 10's AVG over its nine datasets).
    """

    def __init__(self) -> None:
        super().__init__(("accuracy",))
        # task key -> its prompt groups, coarse to fine
        self._prompt_groups: Dict[str, Tuple[str, ...]] = {}

    def __call__(  # type: ignore[override]
        self,
        predicted_choices: ChoiceIndices,
        gold_choices: ChoiceIndices,
        tasks: Optional[List[str]] = None,
        categories: Optional[List[List[str]]] = None,
        prompt_groups: Optional[List[Sequence[str]]] = None,
    ) -> None:
        """
        # Parameters

        predicted_choices : `Sequence[int]` or `torch.Tensor` of shape `(batch_size,)`
            Index of the best-scoring answer choice of each instance.
        gold_choices : `Sequence[int]` or `torch.Tensor` of shape `(batch_size,)`
            Index of the correct answer choice of each instance.
        tasks : `List[str]`, optional (default = `None`)
            Each instance's task (e.g. dataset or prompt) name, for the per-task keys.
        categories : `List[List[str]]`, optional (default = `None`)
            Each instance's task categories, for the per-category keys.
        prompt_groups : `List[Sequence[str]]`, optional (default = `None`)
            Each instance's prompt groups, coarse to fine (`["anli", "anli_r1"]`), empty for none;
            needs `tasks`. Under distributed training give it on every worker or on none.
        """
        predicted, gold = _as_list(predicted_choices), _as_list(gold_choices)
        if len(predicted) != len(gold):
            raise ValueError(
                f"Got {len(predicted)} predicted choices but {len(gold)} gold choices."
            )
        self._sums.add([[100.0 * (p == g)] for p, g in zip(predicted, gold)], tasks, categories)
        if prompt_groups is not None:
            if tasks is None or len(tasks) != len(prompt_groups):
                raise ValueError("prompt_groups needs one task per instance.")
            batch = {
                metric_key_suffix(task): tuple(groups)
                for task, groups in zip(tasks, prompt_groups)
                if groups
            }
            for worker_groups in gather_from_all_workers(batch):
                for task, groups in worker_groups.items():
                    if self._prompt_groups.setdefault(task, groups) != groups:
                        raise ValueError(
                            f"Task {task!r} has prompt groups {self._prompt_groups[task]} and "
                            f"{groups}."
                        )

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        # Running figures (reset=False): `accuracy` and `prompt_averaged_accuracy` only, as the
        # other metrics' running figures are over all instances only; final: every group's too.
        prompt_averages = self._prompt_averages(self._sums.averages())
        if not reset:
            prompt_averages = {
                key: value for key, value in prompt_averages.items() if key == PROMPT_AVERAGED
            }
        return {**super().get_metric(reset), **prompt_averages}

    def _prompt_averages(self, metrics: Dict[str, float]) -> Dict[str, float]:
        if not self._prompt_groups:
            return {}
        # Each group's members: the accuracies of its tasks, and the finer groups below it.
        tasks_of: Dict[Tuple[str, ...], List[float]] = defaultdict(list)
        children: Dict[Tuple[str, ...], Dict[Tuple[str, ...], None]] = defaultdict(dict)
        for task, groups in sorted(self._prompt_groups.items()):
            tasks_of[groups].append(metrics[f"accuracy_{task}"])
            for depth in range(1, len(groups) + 1):
                children[groups[: depth - 1]][groups[:depth]] = None

        averages: Dict[str, float] = {}
        paths: Dict[str, Tuple[str, ...]] = {}

        def average(path: Tuple[str, ...]) -> float:
            members = tasks_of[path] + [average(child) for child in children[path]]
            if path:
                key = f"{PROMPT_AVERAGED}_{metric_key_suffix(path[-1])}"
                if paths.setdefault(key, path) != path:
                    raise ValueError(f"Prompt groups {paths[key]} and {path} share the key {key}.")
                averages[key] = sum(members) / len(members)
            return sum(members) / len(members)

        averages[PROMPT_AVERAGED] = sum(average(top) for top in children[()]) / len(children[()])
        return averages

    def reset(self) -> None:
        super().reset()
        self._prompt_groups = {}


def _as_list(choices: ChoiceIndices) -> List[int]:
    if isinstance(choices, torch.Tensor):
        return choices.detach().cpu().tolist()
    return list(choices)
