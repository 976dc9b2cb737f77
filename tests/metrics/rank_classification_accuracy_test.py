import pytest
import torch
from allennlp.common import Params
from allennlp.training.metrics import Metric

from hint_allennlp.metrics.rank_classification_accuracy import RankClassificationAccuracy


def test_accuracy_overall_and_per_task():
    metric = RankClassificationAccuracy()
    metric(torch.tensor([0, 2, 1]), torch.tensor([0, 1, 1]), tasks=["rte", "rte", "copa"])
    metric([3], [0], tasks=["copa"])
    # right, wrong, right, wrong
    assert metric.get_metric(reset=True) == {
        "accuracy": 50.0,
        "accuracy_rte": 50.0,
        "accuracy_copa": 50.0,
    }
    assert metric.get_metric() == {"accuracy": 0.0}


def test_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        RankClassificationAccuracy()([0, 1], [0])


def test_is_registered():
    metric = Metric.from_params(Params({"type": "rank_classification_accuracy"}))
    assert isinstance(metric, RankClassificationAccuracy)
