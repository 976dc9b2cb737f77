import string
from typing import List, Optional

from allennlp.training.metrics.metric import Metric
from rouge_score import rouge_scorer

from hint_allennlp.metrics.grouped_sums import GroupedAveragesMetric

_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """
    Tk-Instruct's `normalize_answer` (src/compute_metrics.py), in its order: lowercase, drop every
    `string.punctuation` character, collapse whitespace. Unlike the SQuAD script it was copied from,
    Tk-Instruct does not remove articles (that line is commented out there), so neither do we:
    "the answer" and "answer" do not match.
    """
    without_punctuation = "".join(
        character for character in text.lower() if character not in _PUNCTUATION
    )
    return " ".join(without_punctuation.split())


@Metric.register("instruction_metrics")
class InstructionMetrics(GroupedAveragesMetric):
    """
    Super-NaturalInstructions' metrics, computed as Tk-Instruct's `compute_metrics` computes them:

    - `exact_match`: 100 if the prediction equals a reference after `normalize_answer`, else 0;
    - `rougeL`: 100 × the ROUGE-L F-measure of `rouge_score`'s
      `RougeScorer(['rougeL'], use_stemmer=True)`, on the raw strings (the scorer tokenises:
      lowercase, non-alphanumerics to spaces, Porter stemming);

    each the maximum over the instance's references, averaged over instances. Tk-Instruct imports a
    vendored copy of `rouge_score` only to allow a GPT-2 tokenizer for non-English tasks; for
    English its default tokenizer is this one. Tk-Instruct rounds to 4 decimals; we do not.

    Keys: `rougeL` and `exact_match` over all instances, and `rougeL_<group>` /
    `exact_match_<group>` over the instances of each task and of each task category seen, with the
    group named as `grouped_sums.metric_key_suffix` gives ("Question Answering" ->
    `rougeL_question_answering`). Tk-Instruct names these `rougeL_for_<group>`. Task and category
    names share one key space (SNI's task names begin `task<number>_`, so they never meet its
    category names).

    Under distributed training all workers report the global averages (see `GroupedSums`); call it
    on every worker for every evaluation batch.
    """

    def __init__(self) -> None:
        self._rouge_scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        super().__init__(("rougeL", "exact_match"))

    def __call__(  # type: ignore[override]
        self,
        predictions: List[str],
        references: List[List[str]],
        tasks: Optional[List[str]] = None,
        categories: Optional[List[List[str]]] = None,
    ) -> None:
        """
        # Parameters

        predictions : `List[str]`
            One decoded prediction per instance.
        references : `List[List[str]]`
            All references of each instance; the best-matching one counts.
        tasks : `List[str]`, optional (default = `None`)
            Each instance's task name, for the per-task keys.
        categories : `List[List[str]]`, optional (default = `None`)
            Each instance's task categories, for the per-category keys.
        """
        if len(predictions) != len(references):
            raise ValueError(
                f"Got {len(predictions)} predictions but {len(references)} reference lists."
            )
        scores = [
            self._instance_scores(prediction, refs)
            for prediction, refs in zip(predictions, references)
        ]
        self._sums.add(scores, tasks, categories)

    def _instance_scores(self, prediction: str, references: List[str]) -> List[float]:
        # A bare string would be scored character by character, and an empty list has no maximum.
        if isinstance(references, str) or not references:
            raise ValueError(
                f"Each instance needs a non-empty list of references, got {references!r}."
            )
        rouge_l = max(
            self._rouge_scorer.score(target=reference, prediction=prediction)["rougeL"].fmeasure
            for reference in references
        )
        normalized_prediction = normalize_answer(prediction)
        exact_match = max(
            normalized_prediction == normalize_answer(reference) for reference in references
        )
        return [100.0 * rouge_l, 100.0 * exact_match]
