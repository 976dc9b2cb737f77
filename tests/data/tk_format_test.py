import pytest

from hint_allennlp.data.tk_format import (
    Demonstration,
    build_tk_prompt,
    format_definition,
    format_demonstration,
    format_query,
    with_final_period,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Tirana", "Tirana."),
        ("Tirana.", "Tirana."),
        ("Is it?", "Is it?"),
        ('say "yes"', 'say "yes"'),  # '"' is in string.punctuation
        ("x)", "x)"),
        (
            "New Delhi ",
            "New Delhi .",
        ),  # callers strip first; the rule looks at the last character only
        ("", "."),  # as Tk-Instruct: "Input: " ends in a space, so a period follows
        ("ends in é", "ends in é."),
    ],
)
def test_with_final_period(text, expected):
    assert with_final_period(text) == expected


def test_pieces_strip_and_space_as_tk_instruct():
    assert format_definition("  Return the capital  ") == "Definition: Return the capital.\n\n"
    assert (
        format_query(" Albania\n")
        == "Now complete the following example -\nInput: Albania.\nOutput: "
    )
    example = Demonstration(" India ", "New Delhi", explanation="Delhi is the capital")
    assert format_demonstration("Positive", 2, example, add_explanation=False) == (
        " Positive Example 2 -\nInput: India.\n Output: New Delhi.\n\n"
    )
    assert format_demonstration("Negative", 1, example, add_explanation=True) == (
        " Negative Example 1 -\nInput: India.\n Output: New Delhi.\n"
        " Explanation: Delhi is the capital.\n\n"
    )


def test_explanation_is_left_out_when_the_example_has_none():
    example = Demonstration("India", "New Delhi")
    assert "Explanation" not in format_demonstration("Positive", 1, example, add_explanation=True)


def test_demonstrations_stop_at_the_first_that_does_not_fit_per_kind():
    # Counting characters keeps the arithmetic visible: definition 16 + query 55 + short example 45
    # = 116 fits in 120; the long example (94) does not.
    long_example = Demonstration("x" * 50, "y")
    short_example = Demonstration("a", "b")
    prompt, left_out = build_tk_prompt(
        "D",
        [long_example, short_example],
        [short_example],
        add_explanations=False,
        query_input="q",
        count_tokens=len,
        max_tokens=120,
    )
    # The long positive does not fit, which ends the positives even though the short one would fit
    # (Tk-Instruct's `break`); negatives are then tried on their own.
    assert prompt == (
        "Definition: D.\n\n"
        " Negative Example 1 -\nInput: a.\n Output: b.\n\n"
        "Now complete the following example -\nInput: q.\nOutput: "
    )
    assert left_out == 2


def test_without_query_the_prompt_is_the_instruction_part_only():
    prompt, left_out = build_tk_prompt(
        "D",
        [Demonstration("a", "b")],
        [],
        add_explanations=False,
        query_input=None,
        count_tokens=len,
        max_tokens=1000,
    )
    assert prompt == "Definition: D.\n\n Positive Example 1 -\nInput: a.\n Output: b.\n\n"
    assert left_out == 0
