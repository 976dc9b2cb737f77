from typing import List, Optional, Sequence, Union

import torch
from allennlp.training.metrics.metric import Metric

from hint_allennlp.metrics.grouped_sums import GroupedAveragesMetric

ChoiceIndices = Union[Sequence[int], torch.Tensor]


@Metric.register("rank_classification_accuracy")
class RankClassificationAccuracy(GroupedAveragesMetric):
    """
    Accuracy of rank classification (P3 / T0 evaluation): the model scores every answer choice (sum
    of target-token log-probabilities), predicts the best-scoring one and passes the chosen and the
    gold choice indices here.

    Keys: `accuracy` over all instances and `accuracy_<group>` per task and per task category seen
    (groups named as in `InstructionMetrics`). In percent, like the SNI metrics of this package and
    the paper's tables. Under distributed training all workers report the global accuracy.
    """

    def __init__(self) -> None:
        super().__init__(("accuracy",))

    def __call__(  # type: ignore[override]
        self,
        predicted_choices: ChoiceIndices,
        gold_choices: ChoiceIndices,
        tasks: Optional[List[str]] = None,
        categories: Optional[List[List[str]]] = None,
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
        """
        predicted, gold = _as_list(predicted_choices), _as_list(gold_choices)
        if len(predicted) != len(gold):
            raise ValueError(
                f"Got {len(predicted)} predicted choices but {len(gold)} gold choices."
            )
        self._sums.add([[100.0 * (p == g)] for p, g in zip(predicted, gold)], tasks, categories)


def _as_list(choices: ChoiceIndices) -> List[int]:
    if isinstance(choices, torch.Tensor):
        return choices.detach().cpu().tolist()
    return list(choices)
