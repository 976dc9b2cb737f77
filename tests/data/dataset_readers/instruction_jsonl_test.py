import json

import pytest

from hint_allennlp.data.dataset_readers import InstructionJsonlReader
from hint_allennlp.data.file_reading import DataFormatError
from tests import FIXTURES_ROOT, TINY_T5

TASKS_JSONL = FIXTURES_ROOT / "jsonl" / "tasks.jsonl"


TASKS_WITH_CHOICES = FIXTURES_ROOT / "jsonl" / "tasks_with_choices.jsonl"


def make_reader(**kwargs) -> InstructionJsonlReader:
    """`tasks.jsonl` mixes tasks with and without answer choices: read as text unless asked."""
    return InstructionJsonlReader(model_name=str(TINY_T5), **{"answer_choices": False, **kwargs})


def test_reads_every_line_of_the_documented_example():
    instances = list(make_reader().read(str(TASKS_JSONL)))
    assert [instance["metadata"]["task"] for instance in instances] == (
        ["country_capital"] * 4 + ["antonyms"] * 2 + ["tweet_sentiment"] * 3
    )
    albania = instances[0]
    # The same text as the SNI reader builds for task1146, so models trained on SNI read it alike.
    assert albania["metadata"]["instruction"] == (
        "Definition: In this task, you are given a country name and you need to return the capital "
        "city of the given country.\n\n"
        " Positive Example 1 -\nInput: United States.\n Output: Washington.\n\n"
        " Positive Example 2 -\nInput: India.\n Output: New Delhi.\n\n"
    )
    assert albania["metadata"]["input"] == "Albania"
    assert albania["metadata"]["id"] == "task1146-07c79cd44f0247a48202ecd16eac2712"
    assert albania["metadata"]["categories"] == ["Misc."]


def test_outputs_keeps_every_reference():
    usa = list(make_reader().read(str(TASKS_JSONL)))[3]
    assert usa["metadata"]["references"] == ["Washington", "Washington, D.C."]
    target = [token.text for token in usa["target_tokens"].tokens]
    assert target in (["▁Washington", "</s>"], ["▁Washington", ",", "▁D", ".", "C", ".", "</s>"])


def test_optional_keys_default():
    antonym = list(make_reader().read(str(TASKS_JSONL)))[4]
    assert antonym["metadata"]["id"] is None
    assert antonym["metadata"]["categories"] == []
    # No demonstrations in the line: the definition alone.
    assert antonym["metadata"]["instruction"] == (
        "Definition: Given an adjective, generate its antonym. An antonym of a word is a word "
        "opposite in meaning to it.\n\n"
    )


def test_answer_choices_become_a_list_field_and_metadata():
    tweet = list(
        make_reader(instruction_format="tk_instruct", answer_choices=True).read(
            str(TASKS_WITH_CHOICES)
        )
    )[0]
    choices = [
        [token.text for token in field.tokens] for field in tweet["answer_choices"].field_list
    ]
    assert choices == [["▁positive", "</s>"], ["▁negative", "</s>"]]
    assert tweet["metadata"]["answer_choices"] == ["positive", "negative"]
    assert tweet["metadata"]["gold_choice"] == 0
    assert tweet["metadata"]["source"].endswith(
        "Now complete the following example -\nInput: Good morning all! ~ having breakfast at "
        "lunchtime (aaah) and watching little birds hopping in my olive tree ~ lovely nature.\n"
        "Output: "
    )


def test_task_defaults_to_the_file_name(tmp_path):
    path = tmp_path / "my_tasks.jsonl"
    path.write_text(
        json.dumps({"instruction": "Repeat the input", "input": "a", "output": "a"}) + "\n"
    )
    [instance] = make_reader().read(str(path))
    assert instance["metadata"]["task"] == "my_tasks"


GOOD_LINE = {"instruction": "Repeat the input", "input": "a", "output": "a"}


@pytest.mark.parametrize(
    "bad_line, message",
    [
        (b'{"instruction": "x", "input": "a", "output": "a"', "line 2: malformed JSON"),
        (json.dumps({"instruction": "x", "output": "a"}).encode(), "line 2: missing key 'input'"),
        (json.dumps({"instruction": "x", "input": "a"}).encode(), "line 2: missing key 'output'"),
        (json.dumps({"input": "a", "output": "a"}).encode(), "line 2: missing key 'instruction'"),
        (
            json.dumps({"instruction": " ", "input": "a", "output": "a"}).encode(),
            "line 2: 'instruction' is empty",
        ),
        (
            json.dumps(
                {"instruction": "x", "input": "a", "output": "a", "outputs": ["a"]}
            ).encode(),
            "line 2: give only one of 'output' and 'outputs'",
        ),
        (
            json.dumps(
                {"instruction": "x", "input": "a", "output": "c", "answer_choices": ["a", "b"]}
            ).encode(),
            "line 2: no output is one of the answer_choices",
        ),
        (
            json.dumps(
                {
                    "instruction": "x",
                    "input": "a",
                    "output": "a",
                    "positive_examples": [{"input": "a"}],
                }
            ).encode(),
            "line 2, positive_examples[0]: missing key 'output'",
        ),
        (b'{"instruction": "caf\xe9", "input": "a", "output": "a"}', "line 2: not UTF-8"),
        (b"[1, 2]", "line 2: expected a JSON object"),
    ],
    ids=[
        "malformed",
        "no input",
        "no output",
        "no instruction",
        "empty instruction",
        "output and outputs",
        "gold not a choice",
        "bad demonstration",
        "latin-1",
        "not an object",
    ],
)
def test_bad_lines_name_the_file_line_and_fault(tmp_path, bad_line, message):
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(json.dumps(GOOD_LINE).encode() + b"\n" + bad_line + b"\n")
    with pytest.raises(DataFormatError) as error:
        list(make_reader().read(str(path)))
    assert f"{path}, {message}" in str(error.value)


def test_mixing_instances_with_and_without_answer_choices_is_refused_naming_file_and_setting():
    """
    With the defaults, the fixture's mix of tasks with and without answer
    choices used to be read and crash AllenNLP's batching with no file or setting named.
    """
    with pytest.raises(DataFormatError) as refused:
        list(InstructionJsonlReader(model_name=str(TINY_T5)).read(str(TASKS_JSONL)))
    message = str(refused.value)
    assert str(TASKS_JSONL) in message and "'tweet_sentiment'" in message
    assert "answer_choices: false" in message
    assert len(list(make_reader(answer_choices=False).read(str(TASKS_JSONL)))) == 9
