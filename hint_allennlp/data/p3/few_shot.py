"""
P3 few-shot text as the authors build it (allenai/hyper-task-descriptions, HEAD fd86a43:
`hyper_task_descriptions/seqio_tasks/few_shot.py`, registered in `my_t0_tasks.py` with FLAN's
settings `x_y_delimiter=""`, `inputs_prefix=""`, `targets_prefix=" Output: "`,
`example_separator="\\n\\n"`, `prune_exemplars=True`, `max_input_length=960`). What its
`fewshot_preprocessor`, `prune_fewshot_examples_by_length` and `remove_trailing_spaces` do, which
`few_shot_text`, `kept_shots` and the `p3` reader follow: docs/fidelity.md, "P3".
"""

from typing import Callable, List, NamedTuple, Sequence

from hint_allennlp.data.tk_format import cut_into_chunks

FEW_SHOT_PLACEMENTS = ("hypernetwork", "input")
INPUTS_PREFIX = ""
TARGETS_PREFIX = " Output: "
EXAMPLE_SEPARATOR = "\n\n"
DEFINITION_SEPARATOR = " Definition: "
MAX_INPUT_LENGTH = 960  # "saving 64 for separators, like FLAN"


class Shot(NamedTuple):
    input: str
    target: str


def kept_shots(
    shots: Sequence[Shot],
    count_tokens: Callable[[str], int],
    instance_input_tokens: int,
    max_input_length: int = MAX_INPUT_LENGTH,
) -> List[Shot]:
    """The leading shots whose input and target tokens, summed, fit the budget."""
    budget = max_input_length - instance_input_tokens
    kept: List[Shot] = []
    total = 0
    for shot in shots:
        total += count_tokens(shot.input) + count_tokens(shot.target)
        if total > budget:
            break
        kept.append(shot)
    return kept


def few_shot_pieces(shots: Sequence[Shot], text: str) -> List[str]:
    """Each shot's text, then " Definition: " and `text`: joined, the authors' few-shot text."""
    return [
        f"{INPUTS_PREFIX}{shot.input}{TARGETS_PREFIX}{shot.target}{EXAMPLE_SEPARATOR}"
        for shot in shots
    ] + [DEFINITION_SEPARATOR + text]


def few_shot_text(shots: Sequence[Shot], text: str) -> str:
    """The shots, then " Definition: " and `text`."""
    return "".join(few_shot_pieces(shots, text))


def few_shot_chunks(
    shots: Sequence[Shot],
    text: str,
    chunking: str,
    count_tokens: Callable[[str], int],
    max_tokens: int,
) -> List[str]:
    """
    The few-shot text in chunks of at most `max_tokens` (many-shot, `instruction_chunking`;
    `tk_format.cut_into_chunks`): nothing pruned, and joined they are `few_shot_text`.
    """
    return cut_into_chunks(few_shot_pieces(shots, text), chunking, count_tokens, max_tokens)
