import json
import logging
import shutil

import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.data.tokenizers import PretrainedTransformerTokenizer

from hint_allennlp.data.dataset_readers import SuperNaturalInstructionsReader
from hint_allennlp.data.file_reading import DataFormatError
from tests import SNI_FIXTURES, TINY_T5

TASKS_DIR = SNI_FIXTURES / "tasks"
TRAIN_SPLIT = SNI_FIXTURES / "splits" / "train_tasks.txt"
COUNTRY_CAPITAL = TASKS_DIR / "task1146_country_capital.json"

# Written out by hand from the task file (Tk-Instruct's "definition + 2 positive examples").
COUNTRY_CAPITAL_DEFINITION_AND_POSITIVES = (
    "Definition: In this task, you are given a country name and you need to return the capital "
    "city of the given country.\n\n"
    " Positive Example 1 -\nInput: United States.\n Output: Washington.\n\n"
    " Positive Example 2 -\nInput: India.\n Output: New Delhi.\n\n"
)
ALBANIA_QUERY = "Now complete the following example -\nInput: Albania.\nOutput: "
ALBANIA_TK_SOURCE = (
    "Definition: In this task, you are given a country name and you need to return the capital "
    "city of the given country.\n\n"
    " Positive Example 1 -\nInput: United States.\n Output: Washington.\n\n"
    " Positive Example 2 -\nInput: India.\n Output: New Delhi.\n\n"
    "Now complete the following example -\nInput: Albania.\nOutput: "
)


def make_reader(**kwargs) -> SuperNaturalInstructionsReader:
    return SuperNaturalInstructionsReader(
        model_name=str(TINY_T5), tasks_dir=str(TASKS_DIR), **kwargs
    )


def first_instance(reader, path=COUNTRY_CAPITAL):
    return next(iter(reader.read(str(path))))


def token_texts(field):
    return [token.text for token in field.tokens]


def test_tk_instruct_source_is_the_exact_tk_string():
    instance = first_instance(make_reader(instruction_format="tk_instruct"))
    assert instance["metadata"]["source"] == ALBANIA_TK_SOURCE
    assert instance["metadata"]["input"] == "Albania"  # the instance's, in every format
    assert set(instance.fields) == {"source_tokens", "target_tokens", "metadata"}
    tokenizer = PretrainedTransformerTokenizer(str(TINY_T5))
    assert token_texts(instance["source_tokens"]) == [
        t.text for t in tokenizer.tokenize(ALBANIA_TK_SOURCE)
    ]
    assert token_texts(instance["target_tokens"]) == ["▁Ti", "ran", "a", "</s>"]
    assert instance["metadata"]["instruction"] == ""


def test_hint_gives_the_hypernetwork_the_tk_string_without_the_query():
    instance = first_instance(make_reader())
    assert ALBANIA_TK_SOURCE == COUNTRY_CAPITAL_DEFINITION_AND_POSITIVES + ALBANIA_QUERY
    assert instance["metadata"]["instruction"] == COUNTRY_CAPITAL_DEFINITION_AND_POSITIVES
    assert instance["metadata"]["input"] == "Albania"
    assert token_texts(instance["source_tokens"]) == ["▁Albania", "</s>"]
    assert token_texts(instance["instruction_tokens"])[:3] == ["▁Definition", ":", "▁In"]
    assert token_texts(instance["instruction_tokens"])[-1] == "</s>"
    assert instance["metadata"].metadata == {
        "task": "task1146_country_capital",
        "categories": ["Misc."],
        "references": ["Tirana"],
        "instruction": COUNTRY_CAPITAL_DEFINITION_AND_POSITIVES,
        "input": "Albania",
        "source": "Albania",
        "id": "task1146-07c79cd44f0247a48202ecd16eac2712",
        "sequence_layout": "encoder_decoder",
        "tokenizer": {"name": str(TINY_T5), "eos_token_id": 1, "size": 32100},
        "instruction_format": "hint",
    }


def test_no_instruct_has_the_input_only():
    instance = first_instance(make_reader(instruction_format="no_instruct"))
    assert set(instance.fields) == {"source_tokens", "target_tokens", "metadata"}
    assert token_texts(instance["source_tokens"]) == ["▁Albania", "</s>"]


def test_definition_only_and_negative_examples_with_explanations():
    definition_only = first_instance(make_reader(num_positive_examples=0))
    assert definition_only["metadata"]["instruction"] == (
        "Definition: In this task, you are given a country name and you need to return the capital "
        "city of the given country.\n\n"
    )
    everything = first_instance(
        make_reader(
            instruction_format="tk_instruct",
            num_negative_examples=2,
            add_explanations=True,
        )
    )
    assert everything["metadata"]["source"] == (
        "Definition: In this task, you are given a country name and you need to return the capital "
        "city of the given country.\n\n"
        " Positive Example 1 -\nInput: United States.\n Output: Washington.\n"
        " Explanation: Washington is the capital city of United States.\n\n"
        " Positive Example 2 -\nInput: India.\n Output: New Delhi.\n"
        " Explanation: New Delhi is the capital city of India.\n\n"
        " Negative Example 1 -\nInput: France.\n Output: Rome.\n"
        " Explanation: Rome is not the capital city of France. "
        "Paris is the capital city of France.\n\n"
        " Negative Example 2 -\nInput: Italy.\n Output: Beijing.\n"
        " Explanation: Beijing is not the capital city of Italy. "
        "Rome is the capital city of Italy.\n\n"
        "Now complete the following example -\nInput: Albania.\nOutput: "
    )


def test_a_demonstration_that_would_exceed_the_limit_is_left_out_and_counted(caplog):
    tokenizer = PretrainedTransformerTokenizer(str(TINY_T5))
    with_one_example = (
        "Definition: In this task, you are given a country name and you need to return the capital "
        "city of the given country.\n\n"
        " Positive Example 1 -\nInput: United States.\n Output: Washington.\n\n" + ALBANIA_QUERY
    )
    limit = len(tokenizer.tokenize(with_one_example))  # the second example no longer fits
    assert len(tokenizer.tokenize(ALBANIA_TK_SOURCE)) > limit
    reader = make_reader(
        instruction_format="tk_instruct", max_source_tokens=limit, max_instances_per_task=1
    )
    with caplog.at_level(logging.INFO):
        [albania] = list(reader.read(str(COUNTRY_CAPITAL)))
    assert albania["metadata"]["source"] == with_one_example
    assert len(albania["source_tokens"].tokens) == limit
    assert "demonstrations left out (over the length limit): 1" in caplog.text


def test_over_long_sequences_are_truncated_keeping_the_end_token(caplog):
    reader = make_reader(max_instruction_tokens=8, max_target_tokens=2)
    with caplog.at_level(logging.INFO):
        instances = list(reader.read(str(COUNTRY_CAPITAL)))
    instruction = token_texts(instances[0]["instruction_tokens"])
    assert instruction == ["▁Definition", ":", "▁In", "▁this", "▁task", ",", "▁you", "</s>"]
    targets = {tuple(token_texts(instance["target_tokens"])) for instance in instances}
    assert ("▁The", "</s>") in targets  # "The Valley" (Anguilla) cut to one piece + </s>
    assert all(len(target) <= 2 and target[-1] == "</s>" for target in targets)
    assert (
        "instruction_tokens truncated to max_instruction_tokens = 8 tokens: "
        "20 (of 20 instances read)" in caplog.text
    )
    # The untruncated text stays in the metadata for evaluation and inspection.
    assert instances[1]["metadata"]["references"] == ["The Valley"]


@pytest.mark.parametrize(
    "file_path",
    [
        str(TRAIN_SPLIT),
        str(TASKS_DIR / "task1*.json"),
        str(TASKS_DIR),
        str(COUNTRY_CAPITAL),
    ],
    ids=["split file", "glob", "directory", "single task"],
)
def test_file_path_forms(file_path):
    instances = list(make_reader(instruction_format="no_instruct").read(file_path))
    tasks = [instance["metadata"]["task"] for instance in instances]
    expected_tasks = {
        str(TRAIN_SPLIT): [line for line in TRAIN_SPLIT.read_text().split()],
        str(TASKS_DIR): sorted(path.stem for path in TASKS_DIR.glob("*.json")),
        str(TASKS_DIR / "task1*.json"): sorted(path.stem for path in TASKS_DIR.glob("task1*.json")),
        str(COUNTRY_CAPITAL): ["task1146_country_capital"],
    }[file_path]
    assert list(dict.fromkeys(tasks)) == expected_tasks
    assert len(instances) == 20 * len(expected_tasks)


def test_max_instances_per_task(caplog):
    with caplog.at_level(logging.INFO):
        instances = list(make_reader(max_instances_per_task=5).read(str(TRAIN_SPLIT)))
    assert len(instances) == 8 * 5
    assert "instances skipped beyond max_instances_per_task=5: 120" in caplog.text


def write_task(path, **changes):
    task = json.loads(COUNTRY_CAPITAL.read_text())
    task.update(changes)
    path.write_text(json.dumps(task))
    return path


def test_english_only_skips_other_languages_and_says_so(tmp_path, caplog):
    shutil.copy(COUNTRY_CAPITAL, tmp_path / "task1146_country_capital.json")
    write_task(tmp_path / "task_spanish_outputs.json", Output_language=["Spanish"])
    write_task(tmp_path / "task_mixed_inputs.json", Input_language=["English", "French"])
    with caplog.at_level(logging.INFO):
        english = list(make_reader().read(str(tmp_path)))
    assert {instance["metadata"]["task"] for instance in english} == {"task1146_country_capital"}
    assert "non-English tasks skipped: 2" in caplog.text
    everything = list(make_reader(english_only=False).read(str(tmp_path)))
    assert len(everything) == 60


def test_of_several_definitions_the_first_is_used_as_by_tk_instruct(tmp_path):
    task_path = write_task(
        tmp_path / "task_two_definitions.json", Definition=["Name the capital.", "Other."]
    )
    instance = next(iter(make_reader(instruction_format="hint").read(str(task_path))))
    assert (
        "".join(token_texts(instance["instruction_tokens"]))
        .replace("▁", " ")
        .startswith(" Definition: Name the")
    )


def test_one_reference_is_the_target_chosen_by_seed_and_all_are_kept(tmp_path):
    references = ["Tirana", "Tiranë", "Tirana city"]
    instances = [
        {"id": f"multi-{i}", "input": f"Country {i}", "output": references} for i in range(30)
    ]
    task_path = write_task(tmp_path / "task_multi.json", Instances=instances)

    def targets(seed, reader_kwargs=None):
        read = list(make_reader(instruction_format="no_instruct", seed=seed).read(str(task_path)))
        assert all(instance["metadata"]["references"] == references for instance in read)
        tokenizer = PretrainedTransformerTokenizer(str(TINY_T5))
        by_text = {tuple(t.text for t in tokenizer.tokenize(ref)): ref for ref in references}
        return [by_text[tuple(token_texts(instance["target_tokens"]))] for instance in read]

    seed_0 = targets(0)
    assert seed_0 == targets(0)
    assert len(set(seed_0)) > 1  # 30 draws from 3 references
    assert seed_0 != targets(1)


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"Definition": ["x"], "Instances": [', "malformed JSON"),
        (b'{"Instances": []}', "missing key 'Definition'"),
        (b'{"Definition": ["x"]}', "missing key 'Instances'"),
        (b'{"Definition": ["  "], "Instances": []}', "'Definition' is empty"),
        (
            b'{"Definition": [], "Instances": []}',
            "'Definition' must be a string or a non-empty list",
        ),
        (
            b'{"Definition": ["x"], "Instances": [{"id": "a", "output": ["y"]}]}',
            "Instances[0]: missing key 'input'",
        ),
        (
            b'{"Definition": ["x"], "Instances": [{"id": "a", "input": "y"}]}',
            "Instances[0]: missing key 'output'",
        ),
        (b'{"Definition": ["caf\xe9"], "Instances": []}', "not UTF-8"),
        (b'["a", "list"]', "expected a JSON object"),
    ],
    ids=[
        "malformed",
        "no definition",
        "no instances",
        "empty definition",
        "no definition in the list",
        "no input",
        "no output",
        "latin-1",
        "list",
    ],
)
def test_bad_task_files_name_the_file_and_the_fault(tmp_path, content, message):
    path = tmp_path / "task_bad.json"
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as error:
        list(make_reader(instruction_format="no_instruct", english_only=False).read(str(path)))
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_split_file_naming_a_missing_task(tmp_path):
    split = tmp_path / "split.txt"
    split.write_text("task1146_country_capital\ntask9999_no_such_task\n")
    with pytest.raises(
        ConfigurationError, match=r"split.txt, line 2: task 'task9999_no_such_task' has no file"
    ):
        list(make_reader().read(str(split)))


def test_split_file_needs_tasks_dir():
    reader = SuperNaturalInstructionsReader(model_name=str(TINY_T5))
    with pytest.raises(ConfigurationError, match="tasks_dir"):
        list(reader.read(str(TRAIN_SPLIT)))


def test_unknown_instruction_format():
    with pytest.raises(ConfigurationError, match="instruction_format"):
        make_reader(instruction_format="tk")


def test_text_to_instance_for_a_predictor():
    hint = make_reader().text_to_instance("Return the capital city", "Albania", task="capitals")
    assert set(hint.fields) == {"source_tokens", "instruction_tokens", "metadata"}
    assert hint["metadata"]["instruction"] == "Definition: Return the capital city.\n\n"
    assert hint["metadata"]["references"] == []
    assert hint["source_tokens"]._token_indexers is None  # added by apply_token_indexers
    tk = make_reader(instruction_format="tk_instruct").text_to_instance(
        "Return the capital city", "Albania"
    )
    assert tk["metadata"]["source"] == (
        "Definition: Return the capital city.\n\n"
        "Now complete the following example -\nInput: Albania.\nOutput: "
    )
    with pytest.raises(ValueError, match="non-empty instruction"):
        make_reader().text_to_instance("", "Albania")


def test_an_instance_with_an_empty_output_list_is_skipped_named_and_counted(tmp_path, caplog):
    """
    Such an instance used to be read and crash training in batching, unnamed.
    """
    task = json.loads(COUNTRY_CAPITAL.read_text())
    task["Instances"][3]["output"] = []
    task_path = tmp_path / "task_empty_output.json"
    task_path.write_text(json.dumps(task))
    with caplog.at_level(logging.INFO):
        instances = list(make_reader().read(str(task_path)))
    assert len(instances) == 19
    assert all("target_tokens" in instance.fields for instance in instances)
    assert f"{task_path}, Instances[3] (id {task['Instances'][3]['id']})" in caplog.text
    assert "instances skipped: 'output' is an empty list: 1 (of 19 instances read)" in caplog.text


def test_truncation_is_reported_with_its_limit_and_hf_length_warning_is_not_shown(
    tmp_path, caplog, capfd
):
    """HF's "> 512 ... indexing errors" warning named the wrong limit."""
    task = json.loads(COUNTRY_CAPITAL.read_text())
    task["Instances"][0]["input"] = "very " * 700
    task_path = tmp_path / "task_long_input.json"
    task_path.write_text(json.dumps(task))
    with caplog.at_level(logging.INFO):
        list(make_reader(max_source_tokens=600).read(str(task_path)))
    assert (
        "source_tokens truncated to max_source_tokens = 600 tokens: 1 (of 20 instances read)"
        in caplog.text
    )
    # transformers logs to stderr through its own handler.
    assert "indexing errors" not in caplog.text + capfd.readouterr().err


def test_split_file_listing_a_task_twice_is_refused_naming_both_lines(tmp_path):
    """Read twice, the task's instances would count twice in training and in evaluation."""
    split = tmp_path / "split.txt"
    split.write_text(
        "task1146_country_capital\ntask1508_wordnet_antonyms\n\ntask1146_country_capital.json\n"
    )
    with pytest.raises(
        ConfigurationError,
        match=r"split.txt, line 4: task 'task1146_country_capital.json' is already listed on "
        r"line 1; list each task once",
    ):
        list(make_reader().read(str(split)))


def test_a_split_of_tasks_that_are_all_skipped_as_not_english_is_refused(tmp_path):
    """It used to read nothing: `allennlp train` then ended in a bare StopIteration."""
    for name in ("task_french", "task_spanish"):
        write_task(tmp_path / f"{name}.json", Input_language=["French"])
    split = tmp_path / "split.txt"
    split.write_text("task_french\ntask_spanish\n")
    reader = SuperNaturalInstructionsReader(model_name=str(TINY_T5), tasks_dir=str(tmp_path))
    with pytest.raises(
        ConfigurationError, match=r"split.txt: none of its 2 tasks is English.*english_only: false"
    ):
        list(reader.read(str(split)))
    assert len(list(make_reader(english_only=False).read(str(tmp_path / "task_french.json")))) == 20


def test_instances_sharing_an_id_are_read_with_a_warning_that_counts_them(tmp_path, caplog):
    task = json.loads(COUNTRY_CAPITAL.read_text())
    instances = task["Instances"][:5]
    for index in (2, 3):
        instances[index] = {**instances[index], "id": instances[0]["id"]}
    instances[4] = {**instances[4], "id": instances[1]["id"]}
    task_path = write_task(tmp_path / "task_repeated_ids.json", Instances=instances)
    with caplog.at_level(logging.WARNING):
        assert len(list(make_reader().read(str(task_path)))) == 5
    assert (
        f"{task_path}: instances with the id of an earlier instance of the task: 3 "
        f'(e.g. "{instances[0]["id"]}" is the id of 3)'
    ) in caplog.text
    caplog.clear()
    list(make_reader().read(str(COUNTRY_CAPITAL)))
    assert "the id of an earlier instance" not in caplog.text


def test_a_byte_order_mark_starting_a_task_file_or_a_split_file_is_accepted(tmp_path):
    """Some editors start UTF-8 files with one; the predictor and hint-compile accept it too."""
    (tmp_path / "task_bom.json").write_bytes(b"\xef\xbb\xbf" + COUNTRY_CAPITAL.read_bytes())
    (tmp_path / "split.txt").write_bytes(b"\xef\xbb\xbftask_bom\n")
    reader = SuperNaturalInstructionsReader(model_name=str(TINY_T5), tasks_dir=str(tmp_path))
    from_file = list(reader.read(str(tmp_path / "task_bom.json")))
    from_split = list(reader.read(str(tmp_path / "split.txt")))
    assert len(from_file) == len(from_split) == 20
    assert from_file[0]["metadata"]["input"] == "Albania"
