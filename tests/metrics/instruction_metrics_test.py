import pytest
from allennlp.common import Params
from allennlp.training.metrics import Metric

from hint_allennlp.metrics.instruction_metrics import InstructionMetrics, normalize_answer

# RougeL of "the cat sat on the mat" against "a cat on a mat", by hand: the longest common
# subsequence is "cat on mat" (3 tokens); precision 3/6, recall 3/5,
# F = 2·(1/2)·(3/5) / (1/2 + 3/5) = (3/5) / (11/10) = 6/11. None of the words has more than three
# letters, so the scorer's Porter stemmer leaves them alone.
CAT_PREDICTION, CAT_REFERENCE, CAT_ROUGE_L = (
    "the cat sat on the mat",
    "a cat on a mat",
    100 * 6 / 11,
)


def scores(prediction, references):
    metric = InstructionMetrics()
    metric([prediction], [references])
    return metric.get_metric()


def test_rouge_l_is_the_lcs_f_measure():
    assert scores(CAT_PREDICTION, [CAT_REFERENCE]) == {
        "rougeL": pytest.approx(CAT_ROUGE_L),
        "exact_match": 0.0,
    }


def test_rouge_l_stems_and_exact_match_does_not():
    # Porter: "running" -> "run", "dogs" -> "dog", so RougeL sees identical token lists.
    assert scores("running dogs", ["run dog"]) == {
        "rougeL": pytest.approx(100.0),
        "exact_match": 0.0,
    }


def test_each_score_is_its_own_maximum_over_references():
    # "the cat" against "cat": P 1/2, R 1, F 2/3; against "the cat sat": P 1, R 2/3, F 4/5;
    # against "The Cat!": F 1 and the only exact match. Without the last, the maximum is 4/5.
    assert scores("the cat", ["cat", "the cat sat"]) == {
        "rougeL": pytest.approx(80.0),
        "exact_match": 0.0,
    }
    assert scores("the cat", ["The Cat!", "cat", "the cat sat"]) == {
        "rougeL": 100.0,
        "exact_match": 100.0,
    }


@pytest.mark.parametrize(
    "prediction, reference, matches",
    [
        ("The Answer", "the answer", True),
        ("  the\tanswer \n", "the answer", True),
        ("the answer.", "the answer", True),
        ("don't", "dont", True),
        ("a-b", "ab", True),  # punctuation is deleted, not replaced by a space
        ("a - b", "a b", True),
        ("the answer", "answer", False),  # Tk-Instruct keeps articles, unlike SQuAD
        ("“quoted”", "quoted", False),  # typographic quotes are not in string.punctuation
        ("answer", "answers", False),
    ],
)
def test_exact_match_normalisation(prediction, reference, matches):
    assert (normalize_answer(prediction) == normalize_answer(reference)) is matches
    assert scores(prediction, [reference])["exact_match"] == (100.0 if matches else 0.0)


def test_averages_overall_per_task_and_per_category():
    metric = InstructionMetrics()
    metric(
        [CAT_PREDICTION, "Yes."],
        [[CAT_REFERENCE], ["no", "YES"]],
        tasks=["task001_cats", "task002_yes_no"],
        categories=[["Question Answering"], ["Question Answering", "Misc."]],
    )
    metric(["blue"], [["red"]], tasks=["task002_yes_no"], categories=[["Misc."]])
    # instance rougeL / exact_match: (6/11·100, 0), (100, 100), (0, 0)
    assert metric.get_metric(reset=True) == {
        "rougeL": pytest.approx((CAT_ROUGE_L + 100) / 3),
        "exact_match": pytest.approx(100 / 3),
        "rougeL_task001_cats": pytest.approx(CAT_ROUGE_L),
        "exact_match_task001_cats": 0.0,
        "rougeL_task002_yes_no": 50.0,
        "exact_match_task002_yes_no": 50.0,
        "rougeL_question_answering": pytest.approx((CAT_ROUGE_L + 100) / 2),
        "exact_match_question_answering": 50.0,
        "rougeL_misc": 50.0,
        "exact_match_misc": 50.0,
    }
    assert metric.get_metric() == {"rougeL": 0.0, "exact_match": 0.0}


def test_returns_plain_floats():
    metric = InstructionMetrics()
    metric(["a"], [["a"]], tasks=["t"])
    assert all(type(value) is float for value in metric.get_metric().values())


@pytest.mark.parametrize(
    "predictions, references, tasks",
    [
        (["a"], ["a"], None),  # a bare string instead of a list of references
        (["a"], [[]], None),
        (["a", "b"], [["a"]], None),
        (["a"], [["a"]], ["t1", "t2"]),
    ],
)
def test_rejects_malformed_input(predictions, references, tasks):
    with pytest.raises(ValueError):
        InstructionMetrics()(predictions, references, tasks=tasks)


def test_is_registered():
    assert isinstance(
        Metric.from_params(Params({"type": "instruction_metrics"})), InstructionMetrics
    )
