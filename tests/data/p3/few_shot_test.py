"""
Few-shot text as allenai/hyper-task-descriptions builds it (`seqio_tasks/few_shot.py`,
`fewshot_preprocessor` and `prune_fewshot_examples_by_length`, with the settings of
`seqio_tasks/my_t0_tasks.py`: targets_prefix " Output: ", example_separator "\\n\\n",
max_input_length 960).
"""

from hint_allennlp.data.p3.few_shot import MAX_INPUT_LENGTH, Shot, few_shot_text, kept_shots

SHOTS = [Shot("Is 2 even?", "Yes"), Shot("Is 3 even?", "No"), Shot("Is 4 even?", "Yes")]


def words(text: str) -> int:
    return len(text.split())


def test_the_few_shot_string():
    assert few_shot_text(SHOTS[:2], "[MASK] Is it even?") == (
        "Is 2 even? Output: Yes\n\nIs 3 even? Output: No\n\n Definition: [MASK] Is it even?"
    )
    # Every shot pruned: the authors' text still has the separator (and its leading space).
    assert few_shot_text([], "[MASK] Is it even?") == " Definition: [MASK] Is it even?"


def test_shots_are_kept_while_their_tokens_fit_beside_the_input():
    assert MAX_INPUT_LENGTH == 960
    # Each shot is 3 + 1 words; the budget is 960 minus the input's tokens.
    assert kept_shots(SHOTS, words, instance_input_tokens=960 - 12) == SHOTS
    assert kept_shots(SHOTS, words, instance_input_tokens=960 - 11) == SHOTS[:2]
    assert kept_shots(SHOTS, words, instance_input_tokens=960 - 3) == []
    # A running sum: once a shot does not fit, no later one is kept, even a short one.
    long_then_short = [Shot("a " * 10, "b"), Shot("c", "d")]
    assert kept_shots(long_then_short, words, instance_input_tokens=955) == []
    assert kept_shots(SHOTS, words, instance_input_tokens=0, max_input_length=8) == SHOTS[:2]
