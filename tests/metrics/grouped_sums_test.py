import json
import socket
from datetime import timedelta

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from hint_allennlp.cost.flops import ParameterCounts
from hint_allennlp.metrics.grouped_sums import GroupedSums, metric_key_suffix
from hint_allennlp.metrics.inference_flops import InferenceFlops
from hint_allennlp.metrics.instruction_metrics import InstructionMetrics
from hint_allennlp.metrics.rank_classification_accuracy import RankClassificationAccuracy

WORLD_SIZE = 2
# (prediction, references, task, categories, predicted choice, gold choice, instruction, input,
# output lengths)
EXAMPLES = [
    (
        "the cat sat on the mat",
        ["a cat on a mat"],
        "task001_a",
        ["Question Answering"],
        0,
        0,
        9,
        4,
        1,
    ),
    ("yes", ["Yes."], "task002_b", ["Misc."], 1, 0, 5, 3, 2),
    ("blue", ["red", "blue sky"], "task001_a", ["Question Answering"], 2, 2, 9, 6, 1),
    ("no", ["no"], "task003_c", ["Sentiment Analysis", "Misc."], 1, 1, 7, 2, 3),
    ("maybe", ["perhaps"], "task002_b", ["Misc."], 0, 1, 5, 5, 2),
]
# Worker 0 sees tasks 001 and 002, worker 1 tasks 002 and 003, so each has groups the other lacks;
# worker 1's last batch is empty and must still take part in the gather.
BATCHES_BY_RANK = [[EXAMPLES[0:2], EXAMPLES[2:3]], [EXAMPLES[3:5], []]]
PARAMETERS = ParameterCounts(
    encoder=10, cross_attention_key_value=2, decoder=20, generator=5, encoder_modules=1
)


@pytest.mark.parametrize(
    "name, suffix",
    [
        ("Question Answering", "question_answering"),
        ("Misc.", "misc"),
        ("Text to Code", "text_to_code"),
        ("task1557_jfleg_answer_generation", "task1557_jfleg_answer_generation"),
        ("anli GPT-3 style (r1)", "anli_gpt_3_style_r1"),
    ],
)
def test_metric_key_suffix(name, suffix):
    assert metric_key_suffix(name) == suffix


def test_metric_key_suffix_needs_a_letter_or_digit():
    with pytest.raises(ValueError):
        metric_key_suffix("...")


def test_an_instance_counts_once_per_group():
    sums = GroupedSums(("score",))
    # The category repeats and names the same group as the task: still one instance in it.
    sums.add([[4.0], [2.0]], tasks=["qa", "qa"], categories=[["QA", "qa", "Other"], ["Other"]])
    assert sums.averages() == {"score": 3.0, "score_qa": 3.0, "score_other": 3.0}
    assert sums.totals["other"].count == 2


def test_running_figures_are_over_all_instances_and_the_final_ones_per_group_too(caplog):
    # AllenNLP shows `get_metric()` after every batch on its progress line, and writes
    # `get_metric(reset=True)` to metrics.json: the per-group keys only there, named as always.
    metric = RankClassificationAccuracy()
    metric([0, 1, 1], [0, 0, 1], tasks=["rte", "rte", "copa"], categories=[["NLI"], ["NLI"], []])
    assert metric.get_metric() == {"accuracy": pytest.approx(200 / 3)}
    with caplog.at_level("INFO", logger="hint_allennlp.metrics.grouped_sums"):
        final = metric.get_metric(reset=True)
    assert final == {
        "accuracy": pytest.approx(200 / 3),
        "accuracy_rte": 50.0,
        "accuracy_nli": 50.0,
        "accuracy_copa": 100.0,
    }
    [record] = caplog.records
    assert record.getMessage().splitlines()[1:] == [
        "task or category  instances  accuracy",
        "all                       3     66.67",
        "copa                      1    100.00",
        "nli                       2     50.00",
        "rte                       2     50.00",
    ]


def test_empty_names_are_no_group():
    sums = GroupedSums(("score",))
    sums.add([[4.0], [2.0]], tasks=["", "qa"], categories=[[""], []])
    assert sums.averages() == {"score": 3.0, "score_qa": 2.0}


def feed_metrics(batches):
    instruction_metrics, accuracy = InstructionMetrics(), RankClassificationAccuracy()
    flops = InferenceFlops(PARAMETERS)
    for batch in batches:
        columns = list(zip(*batch)) or [[]] * 9
        predictions, references, tasks, categories, predicted, gold, t, i, o = map(list, columns)
        instruction_metrics(predictions, references, tasks, categories)
        accuracy(predicted, gold, tasks, categories, [groups[:1] for groups in categories])
        flops(tasks, t, i, o)
    return {
        **instruction_metrics.get_metric(reset=True),
        **accuracy.get_metric(reset=True),
        **flops.get_metric(reset=True),
    }


def _worker(rank: int, port: int, output_dir: str) -> None:
    address = f"tcp://127.0.0.1:{port}"
    # A timeout, so that workers whose collectives fall out of step fail the test
    # instead of hanging it.
    timeout = timedelta(seconds=60)
    dist.init_process_group(
        "gloo", init_method=address, rank=rank, world_size=WORLD_SIZE, timeout=timeout
    )
    try:
        metrics = feed_metrics(BATCHES_BY_RANK[rank])
    finally:
        dist.destroy_process_group()
    with open(f"{output_dir}/{rank}.json", "w") as output:
        json.dump(metrics, output)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_every_worker_reports_the_global_metrics(tmp_path):
    # Forked rather than spawned: the workers inherit the imported modules instead of importing
    # AllenNLP and transformers again, which took most of this test's time.
    mp.start_processes(
        _worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, start_method="fork"
    )
    expected = feed_metrics([EXAMPLES])
    # A task seen by both workers (task002_b) is one group, its instruction charged once.
    assert {
        "rougeL_task003_c",
        "exact_match_sentiment_analysis",
        "accuracy_task001_a",
        "prompt_averaged_accuracy_misc",
        "prompt_averaged_accuracy",
    } <= expected.keys()
    for rank in range(WORLD_SIZE):
        reported = json.loads((tmp_path / f"{rank}.json").read_text())
        assert reported == {key: pytest.approx(value) for key, value in expected.items()}


def test_the_metrics_keys_come_in_the_order_their_groups_were_first_seen():
    # A set's order would follow the hash seed, so the keys would come in another order in every
    # process; first-seen order is the same in all.
    sums = GroupedSums(["score"])
    sums.add([[1.0], [0.0]], tasks=["task_b", "task_a"], categories=[["z cat", "a cat"], ["m"]])
    assert list(sums.averages()) == [
        "score",
        "score_z_cat",
        "score_a_cat",
        "score_task_b",
        "score_m",
        "score_task_a",
    ]
