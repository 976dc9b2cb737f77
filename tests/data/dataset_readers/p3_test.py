import json

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.dataset_readers import P3Reader
from hint_allennlp.data.file_reading import DataFormatError
from tests import FIXTURES_ROOT, TINY_T5

PROMPTS = FIXTURES_ROOT / "p3" / "prompts.jsonl"


def read(mode, **kwargs):
    """The fixture mixes prompts with and without answer choices: read as text unless asked."""
    arguments = {"answer_choices": False, **kwargs}
    return list(P3Reader(model_name=str(TINY_T5), mode=mode, **arguments).read(str(PROMPTS)))


@pytest.mark.parametrize(
    "mode, expected_instruction, expected_source",
    [
        (
            "joint",
            "[premise]\nQuestion: [hypothesis] True or False?",
            "A man is playing a guitar on a small stage.\n"
            "Question: A person is playing an instrument. True or False?",
        ),
        (
            "split",
            "Question:  True or False?",
            "A man is playing a guitar on a small stage.\nA person is playing an instrument.",
        ),
        (
            "prompt_only",
            None,
            "A man is playing a guitar on a small stage.\n"
            "Question: A person is playing an instrument. True or False?",
        ),
    ],
)
def test_modes(mode, expected_instruction, expected_source):
    rte = read(mode)[0]
    assert rte["metadata"]["input"] == expected_source
    if expected_instruction is None:
        assert "instruction_tokens" not in rte.fields
        assert rte["metadata"]["instruction"] == ""
    else:
        assert rte["metadata"]["instruction"] == expected_instruction
        assert rte["instruction_tokens"].tokens[-1].text == "</s>"


def test_placeholders_may_have_spaces_and_fields_are_taken_once_in_template_order():
    copa = read("split")[2]
    assert (
        copa["metadata"]["input"]
        == "The child woke up screaming.\nHe had a nightmare.\nHe went to bed early."
    )
    assert copa["metadata"]["instruction"] == "What was the cause?\nOption 1: \nOption 2:"


def test_answer_choices_and_gold_for_rank_classification():
    instances = read("joint", answer_choices=True, max_instances=4)  # the first four have choices
    rte_true, rte_false, copa = instances[0], instances[1], instances[2]
    assert [[t.text for t in f.tokens] for f in rte_true["answer_choices"].field_list] == [
        ["▁True", "</s>"],
        ["▁Fal", "s", "e", "</s>"],
    ]
    assert (rte_true["metadata"]["gold_choice"], rte_false["metadata"]["gold_choice"]) == (0, 1)
    assert copa["metadata"]["answer_choices"] == ["He had a nightmare.", "He went to bed early."]
    assert copa["metadata"]["references"] == ["He had a nightmare."]
    assert copa["metadata"]["categories"] == ["Cause Effect Classification"]


def test_generation_prompt_without_choices_and_unlabelled_prompt():
    instances = read("joint")
    assert len(instances) == 6  # the blank line is skipped
    headline, unlabelled = instances[4], instances[5]
    assert (
        "answer_choices" not in headline.fields
        and "answer_choices" not in headline["metadata"].metadata
    )
    assert headline["metadata"]["references"] == ["Council approves new bike lanes"]
    assert "target_tokens" not in unlabelled.fields
    assert unlabelled["metadata"]["gold_choice"] is None
    assert unlabelled["metadata"]["id"] == "rte-unlabelled"


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {"template": "{{a}} and {{b}}", "fields": {"a": "x"}},
            "the template uses {{b}} but 'fields' has no 'b'",
        ),
        (
            {"template": "no placeholder", "fields": {"a": "x"}},
            "the template has no {{field}} placeholder",
        ),
        ({"template": "{{a}}", "fields": {"a": 3}}, "field 'a' must be a string"),
        ({"template": "{{a}}"}, "missing key 'fields'"),
        ({"fields": {"a": "x"}}, "missing key 'template'"),
        (
            {
                "template": "{{a}}?",
                "fields": {"a": "x"},
                "answer_choices": ["yes", "no"],
                "target": "maybe",
            },
            "the target 'maybe' is not one of the answer_choices",
        ),
    ],
)
def test_bad_lines_name_the_file_line_and_fault(tmp_path, record, message):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(DataFormatError) as error:
        list(P3Reader(model_name=str(TINY_T5)).read(str(path)))
    assert f"{path}, line 1: {message}" in str(error.value)


def test_split_mode_needs_text_besides_the_placeholders(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"template": "{{a}} {{b}}", "fields": {"a": "x", "b": "y"}}) + "\n")
    with pytest.raises(
        DataFormatError, match="line 1: the template has no text besides its placeholders"
    ):
        list(P3Reader(model_name=str(TINY_T5), mode="split").read(str(path)))


def test_unknown_mode():
    with pytest.raises(ConfigurationError, match="mode"):
        P3Reader(model_name=str(TINY_T5), mode="separate")
