import json
import logging

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
        (
            "no_prompt",
            None,
            "A man is playing a guitar on a small stage.\nA person is playing an instrument.",
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


@pytest.mark.parametrize("mode", ["split", "no_prompt"])
def test_modes_reading_the_fields_alone_need_fields(tmp_path, mode):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"template": "no placeholder", "fields": {}}) + "\n")
    with pytest.raises(DataFormatError, match="line 1: the template has no {{field}} placeholder"):
        list(P3Reader(model_name=str(TINY_T5), mode=mode).read(str(path)))
    # The modes that read the whole prompt do not.
    (joint,) = P3Reader(model_name=str(TINY_T5)).read(str(path))
    assert joint["metadata"]["input"] == joint["metadata"]["instruction"] == "no placeholder"


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


RECORD = {
    "task": "super_glue_rte_GPT_3_style",
    "template": "{{premise}}\nQuestion: {{hypothesis}} True or False?",
    "fields": {"premise": "The cat sleeps.", "hypothesis": "An animal rests."},
    "answer_choices": ["True", "False"],
    "target": "True",
    "categories": ["super_glue_rte"],
    "edited_prompt": "[MASK]\nQuestion: [MASK] True or False?",
}
PROMPT = "The cat sleeps.\nQuestion: An animal rests. True or False?"
SHOTS = [
    {"input": "The sun is up.\nQuestion: It is day. True or False?", "target": "True"},
    {"input": "The road is dry.\nQuestion: It rained. True or False?", "target": "False"},
]


def read_record(tmp_path, record, **kwargs):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (instance,) = P3Reader(model_name=str(TINY_T5), **kwargs).read(str(path))
    return instance["metadata"]


@pytest.mark.parametrize(
    "mode, instruction, source",
    [
        ("joint", RECORD["edited_prompt"], PROMPT),
        ("split", RECORD["edited_prompt"], "The cat sleeps.\nAn animal rests."),
        ("prompt_only", "", PROMPT),
        ("no_prompt", "", "The cat sleeps.\nAn animal rests."),
    ],
)
def test_the_edited_prompt_is_the_hypernetwork_text(tmp_path, mode, instruction, source):
    metadata = read_record(tmp_path, RECORD, mode=mode)
    assert (metadata["instruction"], metadata["input"]) == (instruction, source)
    # What evaluation averages prompts over (Table 10): the record's categories, coarse to fine.
    assert metadata["prompt_groups"] == ["super_glue_rte"]


def test_shots_before_the_hypernetwork_text(tmp_path):
    # HINT: allenai/hyper-task-descriptions seqio_tasks/few_shot.py with `fewshot_hyper=True`.
    metadata = read_record(
        tmp_path, {**RECORD, "shots": SHOTS}, mode="split", few_shot_placement="hypernetwork"
    )
    assert metadata["instruction"] == (
        "The sun is up.\nQuestion: It is day. True or False? Output: True\n\n"
        "The road is dry.\nQuestion: It rained. True or False? Output: False\n\n"
        " Definition: [MASK]\nQuestion: [MASK] True or False?"
    )
    assert metadata["input"] == "The cat sleeps.\nAn animal rests."


def test_shots_before_the_input(tmp_path):
    # T0: the shots go into the encoder input, which is then stripped (`remove_trailing_spaces`).
    metadata = read_record(
        tmp_path, {**RECORD, "shots": SHOTS[:1]}, mode="prompt_only", few_shot_placement="input"
    )
    assert metadata["input"] == (
        "The sun is up.\nQuestion: It is day. True or False? Output: True\n\n Definition: " + PROMPT
    )


def test_shots_are_pruned_by_t5_tokens(tmp_path):
    reader = P3Reader(model_name=str(TINY_T5))
    pieces = len(reader._tokenizer.tokenize(PROMPT)) - 1  # without </s>
    first = sum(len(reader._tokenizer.tokenize(SHOTS[0][key])) - 1 for key in ("input", "target"))
    metadata = read_record(
        tmp_path,
        {**RECORD, "shots": SHOTS},
        few_shot_placement="hypernetwork",
        max_few_shot_input_tokens=pieces + first,  # room for the first shot only
    )
    assert metadata["instruction"].startswith(SHOTS[0]["input"] + " Output: True\n\n Definition: ")


def test_shots_need_a_placement(tmp_path):
    with pytest.raises(DataFormatError, match="line 1: the record has 'shots' but"):
        read_record(tmp_path, {**RECORD, "shots": SHOTS})
    with pytest.raises(DataFormatError, match="'shots' must be a list of objects"):
        read_record(tmp_path, {**RECORD, "shots": ["x"]}, few_shot_placement="input")
    with pytest.raises(ConfigurationError, match="no hypernetwork text"):
        P3Reader(model_name=str(TINY_T5), mode="prompt_only", few_shot_placement="hypernetwork")
    with pytest.raises(ConfigurationError, match="few_shot_placement must be one of"):
        P3Reader(model_name=str(TINY_T5), few_shot_placement="encoder")


def read_chunked(tmp_path, record, caplog=None, **kwargs):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps(record) + "\n")
    arguments = {"mode": "split", "few_shot_placement": "hypernetwork", **kwargs}
    (instance,) = P3Reader(model_name=str(TINY_T5), **arguments).read(str(path))
    return instance


def chunk_tokens(instance):
    return [[t.text for t in chunk.tokens] for chunk in instance["instruction_tokens"].field_list]


def test_many_shot_chunks_one_chunk_is_the_unchunked_instruction(tmp_path):
    record = {**RECORD, "shots": SHOTS}
    unchunked = read_chunked(tmp_path, record)
    chunked = read_chunked(tmp_path, record, instruction_chunking="packed")
    assert chunk_tokens(chunked) == [[t.text for t in unchunked["instruction_tokens"].tokens]]
    assert chunked["metadata"]["instruction"] == unchunked["metadata"]["instruction"]
    assert chunked["metadata"]["instruction_chunks"] == 1
    # Without shots: the hypernetwork's text as it is, one chunk.
    no_shots = read_chunked(tmp_path, RECORD, instruction_chunking="per_example")
    assert no_shots["metadata"]["instruction"] == RECORD["edited_prompt"]


def test_many_shot_chunks_keep_every_shot_within_the_window(tmp_path):
    shots = SHOTS * 4  # 8 shots
    record = {**RECORD, "shots": shots}
    # The authors' pruning keeps only the shots that fit 30 tokens besides the prompt.
    pruned = read_chunked(tmp_path, record, max_few_shot_input_tokens=30)
    assert pruned["metadata"]["instruction"].count(" Output: ") < len(shots)
    per_example = read_chunked(
        tmp_path, record, max_few_shot_input_tokens=30, instruction_chunking="per_example"
    )
    texts = ["".join(chunk) for chunk in chunk_tokens(per_example)]
    assert len(texts) == len(shots) + 1 and "Definition" in texts[-1]
    packed = read_chunked(
        tmp_path, record, instruction_chunking="packed", max_instruction_tokens=60
    )
    lengths = [len(chunk) for chunk in chunk_tokens(packed)]
    assert 1 < len(lengths) < len(shots) + 1 and max(lengths) <= 60
    # Joined, the chunks are the authors' few-shot text with every shot.
    assert packed["metadata"]["instruction"] == per_example["metadata"]["instruction"]
    assert packed["metadata"]["instruction"].count(" Output: ") == len(shots)


def test_num_shots_takes_the_first_and_counts_records_with_fewer(tmp_path, caplog):
    record = {**RECORD, "shots": SHOTS}
    one = read_chunked(tmp_path, record, num_shots=1, instruction_chunking="packed")
    assert one["metadata"]["instruction"].startswith(SHOTS[0]["input"] + " Output: True\n\n")
    assert one["metadata"]["instruction"].count(" Output: ") == 1
    with caplog.at_level(logging.WARNING):
        four = read_chunked(tmp_path, record, num_shots=4, instruction_chunking="packed")
    assert four["metadata"]["instruction"].count(" Output: ") == 2
    assert (
        "records with fewer than num_shots=4 few-shot examples, read with the 2 they have"
        in caplog.text
    )


def test_many_shot_chunks_need_the_shots_in_the_hypernetwork():
    with pytest.raises(ConfigurationError, match="instruction_chunking must be null or one of"):
        P3Reader(model_name=str(TINY_T5), mode="prompt_only", instruction_chunking="packed")
    with pytest.raises(ConfigurationError, match="few_shot_placement 'input'"):
        P3Reader(model_name=str(TINY_T5), few_shot_placement="input", instruction_chunking="packed")
