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


def test_table_10_averages_every_prompt_once_and_anli_per_round():
    """
    The paper's Table 10: accuracy averaged over prompts per dataset; for ANLI over the prompts of
    each round, then over the rounds; AVG over the datasets.
    """
    metric = RankClassificationAccuracy()
    # (task, prompt groups, [right or wrong per instance])
    examples = [
        ("rte_a", ["rte"], [1, 1, 1, 0]),  # 75
        ("rte_b", ["rte"], [1, 0]),  # 50
        ("anli_a_r1", ["anli", "anli_r1"], [1, 1]),  # 100
        ("anli_b_r1", ["anli", "anli_r1"], [0, 0, 0, 0, 0, 0]),  # 0
        ("anli_a_r2", ["anli", "anli_r2"], [1, 0]),  # 50
    ]
    for task, groups, right in examples:
        metric(
            [0 if r else 1 for r in right],
            [0] * len(right),
            tasks=[task] * len(right),
            prompt_groups=[groups] * len(right),
        )
    # The running figures (AllenNLP's progress line) are the overall ones; the final ones all.
    running = metric.get_metric()
    assert set(running) == {"accuracy", "prompt_averaged_accuracy"}
    metrics = metric.get_metric(reset=True)
    assert running.items() <= metrics.items()
    assert metrics["prompt_averaged_accuracy_rte"] == 62.5  # instance-weighted it would be 66.7
    assert metrics["prompt_averaged_accuracy_anli_r1"] == 50.0
    assert metrics["prompt_averaged_accuracy_anli_r2"] == 50.0
    assert metrics["prompt_averaged_accuracy_anli"] == 50.0  # (50 + 50) / 2, not (100+0+50) / 3
    assert metrics["prompt_averaged_accuracy"] == (62.5 + 50.0) / 2
    assert metrics["accuracy_anli_b_r1"] == 0.0
    assert metric.get_metric() == {"accuracy": 0.0}


def test_without_prompt_groups_there_are_no_prompt_averages():
    metric = RankClassificationAccuracy()
    metric([0], [0], tasks=["rte"], prompt_groups=[[]])
    assert "prompt_averaged_accuracy" not in metric.get_metric(reset=True)


def test_a_task_has_one_place_among_the_prompt_groups():
    metric = RankClassificationAccuracy()
    metric([0], [0], tasks=["a"], prompt_groups=[["rte"]])
    with pytest.raises(ValueError, match="prompt groups"):
        metric([0], [0], tasks=["a"], prompt_groups=[["cb"]])
    with pytest.raises(ValueError, match="needs one task per instance"):
        metric([0], [0], prompt_groups=[["cb"]])
