import json

import pytest

from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.data.instruction_inputs import (
    TaskInstruction,
    gold_choice_index,
    instruction_example_from_record,
    is_sni_task,
    load_sni_task,
    prediction_request_from_record,
    read_task_instructions,
    sni_instance_from_record,
    sni_task_from_record,
    sni_task_name,
)
from hint_allennlp.data.tk_format import Demonstration
from tests import SNI_FIXTURES

COUNTRY_CAPITAL = SNI_FIXTURES / "tasks" / "task1146_country_capital.json"
HERE = "in.jsonl, line 3"

SNI_TASK = {
    "Definition": ["Name the capital."],
    "Categories": ["Misc."],
    "Positive Examples": [{"input": "India", "output": "New Delhi", "explanation": "Its capital."}],
    "Negative Examples": [{"input": "France", "output": "Rome"}],
    "Input_language": ["English"],
    "Output_language": ["English"],
    "Instruction_language": ["English"],
    "Instances": [{"id": "a", "input": "Albania", "output": ["Tirana"]}],
}


def test_an_sni_task_file():
    task = load_sni_task(COUNTRY_CAPITAL)
    assert task.name == "task1146_country_capital" and task.location == str(COUNTRY_CAPITAL)
    assert task.instruction.definition.startswith("In this task, you are given a country name")
    assert task.instruction.categories == ["Misc."]
    assert task.instruction.positive_examples[0] == Demonstration(
        "United States", "Washington", "Washington is the capital city of United States."
    )
    assert len(task.instruction.negative_examples) == 2
    assert task.is_english and len(task.instances) == 20


def test_an_sni_task_object_its_name_and_language():
    task = sni_task_from_record(SNI_TASK, "capitals", HERE)
    assert task.instruction == TaskInstruction(
        definition="Name the capital.",
        categories=["Misc."],
        positive_examples=[Demonstration("India", "New Delhi", "Its capital.")],
        negative_examples=[Demonstration("France", "Rome")],
    )
    assert task.is_english and task.instances == SNI_TASK["Instances"]
    assert not sni_task_from_record(
        {**SNI_TASK, "Input_language": ["English", "French"]}, "t", HERE
    ).is_english
    assert not sni_task_from_record({**SNI_TASK, "Output_language": []}, "t", HERE).is_english
    # Of several definitions the first is used, as by Tk-Instruct; a plain string is taken as it is.
    assert (
        sni_task_from_record(
            {**SNI_TASK, "Definition": ["A.", "B."]}, "t", HERE
        ).instruction.definition
        == "A."
    )
    assert (
        sni_task_from_record({**SNI_TASK, "Definition": "C."}, "t", HERE).instruction.definition
        == "C."
    )
    assert sni_task_name(COUNTRY_CAPITAL) == "task1146_country_capital"
    # Meant as a task (no "input"), so a task lacking one of its two keys is refused naming it.
    assert is_sni_task(SNI_TASK) and is_sni_task({"Definition": ["x"]})
    assert is_sni_task(without(SNI_TASK, "Definition"))
    assert not is_sni_task({"Definition": ["x"], "input": "y"}) and not is_sni_task([SNI_TASK])


def without(record, key):
    return {name: value for name, value in record.items() if name != key}


@pytest.mark.parametrize(
    "record, message",
    [
        (["a", "list"], "expected a JSON object (an SNI task), found list."),
        (without(SNI_TASK, "Definition"), "missing key 'Definition'."),
        (
            {**SNI_TASK, "Definition": []},
            "'Definition' must be a string or a non-empty list of strings.",
        ),
        (
            {**SNI_TASK, "Definition": [3]},
            "'Definition' must be a string or a non-empty list of strings.",
        ),
        ({**SNI_TASK, "Definition": ["  "]}, "'Definition' is empty."),
        (without(SNI_TASK, "Instances"), "missing key 'Instances'."),
        ({**SNI_TASK, "Instances": {"id": "a"}}, "'Instances' must be a list."),
        ({**SNI_TASK, "Positive Examples": {"input": "x"}}, "'Positive Examples' must be a list."),
        (
            {**SNI_TASK, "Positive Examples": ["x"]},
            "Positive Examples[0]: a demonstration must be an object",
        ),
        (
            {**SNI_TASK, "Negative Examples": [{"input": "x"}]},
            "Negative Examples[0]: missing key 'output'.",
        ),
        (
            {**SNI_TASK, "Positive Examples": [{"input": "x", "output": 1}]},
            "'output' must be a string, found int.",
        ),
        (
            {**SNI_TASK, "Positive Examples": [{"input": "x", "output": "y", "explanation": 2}]},
            "'explanation' must be a string, found int.",
        ),
        ({**SNI_TASK, "Categories": "Misc."}, "'Categories' must be a list of strings."),
        ({**SNI_TASK, "Input_language": "English"}, "'Input_language' must be a list of strings."),
    ],
)
def test_every_fault_of_an_sni_task_names_where_and_the_field(record, message):
    with pytest.raises(DataFormatError) as error:
        sni_task_from_record(record, "t", HERE)
    assert str(error.value).startswith(HERE) and message in str(error.value)


def test_an_sni_instance_to_read_and_in_a_prediction_request():
    instance = sni_instance_from_record({"id": "a", "input": "Albania", "output": "Tirana"}, HERE)
    assert (instance.input, instance.references, instance.id) == ("Albania", ["Tirana"], "a")
    assert (
        sni_instance_from_record({"input": "x", "output": []}, HERE).references == []
    )  # the reader skips it
    assert sni_instance_from_record({"input": "x", "output": ["a", "b"]}, HERE).id is None
    # A request needs no output (absent, null or empty: no references) and echoes any id.
    for no_output in ({}, {"output": None}, {"output": []}, {"output": ""}):
        assert (
            sni_instance_from_record({"input": "x", **no_output}, HERE, request=True).references
            == []
        )
    request = sni_instance_from_record({"input": "x", "output": "y", "id": 7}, HERE, request=True)
    assert (request.references, request.id) == (["y"], 7)


@pytest.mark.parametrize("request_", [False, True], ids=["data", "request"])
@pytest.mark.parametrize(
    "record, message",
    [
        (["x"], "an instance must be a JSON object, found list."),
        ({"output": "y"}, "missing key 'input'."),
        ({"input": 3, "output": "y"}, "'input' must be a string, found int."),
        ({"input": "x", "output": 3}, "'output' must be a list of strings."),
        ({"input": "x", "output": ["y", 3]}, "'output' must be a list of strings."),
        ({"input": "x", "output": {"y": "z"}}, "'output' must be a list of strings."),
    ],
)
def test_every_fault_of_an_sni_instance_names_where_and_the_field(record, message, request_):
    with pytest.raises(DataFormatError) as error:
        sni_instance_from_record(record, HERE, request=request_)
    assert str(error.value) == f"{HERE}: {message}"


@pytest.mark.parametrize(
    "record, message",
    [
        ({"input": "x"}, "missing key 'output'."),
        ({"input": "x", "output": "y", "id": 7}, "'id' must be a string, found int."),
        ({"input": "x", "output": None}, "'output' must be a list of strings."),
    ],
)
def test_data_to_read_needs_an_output_and_a_string_id(record, message):
    with pytest.raises(DataFormatError) as error:
        sni_instance_from_record(record, HERE)
    assert str(error.value) == f"{HERE}: {message}"


EXAMPLE = {
    "task": "capitals",
    "id": "c-1",
    "instruction": "Name the capital",
    "input": "Albania",
    "output": "Tirana",
    "categories": ["Misc."],
    "positive_examples": [{"input": "India", "output": "New Delhi"}],
    "negative_examples": [{"input": "France", "output": "Rome", "explanation": "Paris."}],
    "answer_choices": ["Tirana", "Rome"],
}


def test_an_instruction_example():
    example = instruction_example_from_record(EXAMPLE, HERE, default_task="file")
    assert (example.task, example.input, example.references, example.id) == (
        "capitals",
        "Albania",
        ["Tirana"],
        "c-1",
    )
    assert example.answer_choices == ["Tirana", "Rome"]
    assert example.instruction == TaskInstruction(
        "Name the capital",
        ["Misc."],
        [Demonstration("India", "New Delhi")],
        [Demonstration("France", "Rome", "Paris.")],
    )
    minimal = instruction_example_from_record(
        {"instruction": "I", "input": "x", "outputs": ["a", "b"]}, HERE, "file"
    )
    assert (minimal.task, minimal.references, minimal.answer_choices, minimal.id) == (
        "file",
        ["a", "b"],
        None,
        None,
    )
    assert minimal.instruction == TaskInstruction("I")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"instruction": None}, "missing key 'instruction'."),
        ({"instruction": 3}, "'instruction' must be a string, found int."),
        ({"instruction": " \n"}, "'instruction' is empty."),
        ({"output": None}, "missing key 'output' (or 'outputs', a list)."),
        ({"outputs": ["Tirana"]}, "give only one of 'output' and 'outputs'."),
        ({"output": ["Tirana"]}, "'output' must be a string, found list."),
        ({"output": None, "outputs": []}, "'outputs' is empty."),
        ({"output": None, "outputs": "Tirana"}, "'outputs' must be a list of strings."),
        ({"answer_choices": "Tirana"}, "'answer_choices' must be a list of strings."),
        ({"answer_choices": ["Rome", "Paris"]}, "no output is one of the answer_choices."),
        ({"positive_examples": {"input": "x"}}, "'positive_examples' must be a list."),
        ({"positive_examples": [{"output": "y"}]}, "positive_examples[0]: missing key 'input'."),
        ({"negative_examples": [3]}, "negative_examples[0]: a demonstration must be an object"),
        ({"input": None}, "missing key 'input'."),
        ({"input": ["x"]}, "'input' must be a string, found list."),
        ({"task": 3}, "'task' must be a string, found int."),
        ({"categories": [1]}, "'categories' must be a list of strings."),
        ({"id": 3}, "'id' must be a string, found int."),
    ],
)
def test_every_fault_of_an_instruction_example_names_where_and_the_field(changes, message):
    record = {key: value for key, value in {**EXAMPLE, **changes}.items() if value is not None}
    with pytest.raises(DataFormatError) as error:
        instruction_example_from_record(record, HERE, default_task="file")
    assert str(error.value).startswith(HERE) and message in str(error.value)


def test_a_prediction_request():
    request = prediction_request_from_record(EXAMPLE, HERE)
    assert (request.task, request.input, request.id) == ("capitals", "Albania", "c-1")
    # Only the instruction and the positive examples are read, as hint-compile reads a task.
    assert request.instruction == TaskInstruction(
        "Name the capital", positive_examples=[Demonstration("India", "New Delhi")]
    )
    compiled = prediction_request_from_record({"task": "capitals", "input": "x", "id": 7}, HERE)
    assert compiled.instruction is None and compiled.id == 7
    for no_task in ({}, {"task": None}, {"task": ""}):
        assert (
            prediction_request_from_record({"instruction": "I", "input": "x", **no_task}, HERE).task
            == ""
        )


@pytest.mark.parametrize(
    "record, message",
    [
        ({"instruction": "I"}, "missing key 'input'."),
        ({"instruction": "I", "input": 42}, "'input' must be a string, found int."),
        ({"instruction": "", "input": "x"}, "'instruction' is empty."),
        ({"instruction": ["I"], "input": "x"}, "'instruction' must be a string, found list."),
        ({"instruction": "I", "input": "x", "task": ["t"]}, "'task' must be a string, found list."),
        (
            {"instruction": "I", "input": "x", "positive_examples": [{"input": "a"}]},
            "missing key 'output'.",
        ),
    ],
)
def test_every_fault_of_a_prediction_request_names_where_and_the_field(record, message):
    with pytest.raises(DataFormatError) as error:
        prediction_request_from_record(record, HERE)
    assert str(error.value).startswith(HERE) and message in str(error.value)


def test_a_task_instruction_is_stored_as_json_and_read_back():
    instruction = sni_task_from_record(SNI_TASK, "t", HERE).instruction
    stored = json.loads(json.dumps(instruction.to_json()))
    assert stored == {
        "instruction": "Name the capital.",
        "categories": ["Misc."],
        "positive_examples": [
            {"input": "India", "output": "New Delhi", "explanation": "Its capital."}
        ],
        "negative_examples": [{"input": "France", "output": "Rome", "explanation": None}],
    }
    assert TaskInstruction.from_json(stored) == instruction
    # Files compiled from JSON lines before there was one form hold only these two keys.
    older = {"instruction": "I", "positive_examples": [{"input": "a", "output": "b"}]}
    assert TaskInstruction.from_json(older) == TaskInstruction(
        "I", positive_examples=[Demonstration("a", "b")]
    )
    assert instruction.reader_arguments() == {
        "instruction": "Name the capital.",
        "categories": ["Misc."],
        "positive_examples": instruction.positive_examples,
        "negative_examples": instruction.negative_examples,
    }


def test_tasks_to_compile_from_sni_files_json_lines_and_text(tmp_path):
    [(name, instruction)] = list(read_task_instructions(str(COUNTRY_CAPITAL)))
    assert (
        name == "task1146_country_capital"
        and instruction == load_sni_task(COUNTRY_CAPITAL).instruction
    )
    lines = tmp_path / "tasks.jsonl"
    lines.write_text(
        json.dumps(
            {
                "task": "a",
                "instruction": "Do A.",
                "positive_examples": [{"input": "x", "output": "y"}],
            }
        )
        + "\n\n"
        + json.dumps({"task": "b", "instruction": "Do B.", "negative_examples": "not read"})
        + "\n"
    )
    assert list(read_task_instructions(str(lines))) == [
        ("a", TaskInstruction("Do A.", positive_examples=[Demonstration("x", "y")])),
        ("b", TaskInstruction("Do B.")),
    ]
    text = tmp_path / "tasks.txt"
    text.write_text(" a \t Do A. \n\nb\tDo B.\n")
    assert list(read_task_instructions(str(text))) == [
        ("a", TaskInstruction("Do A.")),
        ("b", TaskInstruction("Do B.")),
    ]


@pytest.mark.parametrize(
    "suffix, line, message",
    [
        (".jsonl", b'{"task": "a", "instruction": "Do A."', "malformed JSON"),
        (".jsonl", b'["a", "Do A."]', "expected a JSON object, found list."),
        (".jsonl", b'{"instruction": "Do A."}', "missing key 'task'."),
        (".jsonl", b'{"task": "", "instruction": "Do A."}', "'task' is empty."),
        (".jsonl", b'{"task": 3, "instruction": "Do A."}', "'task' must be a string, found int."),
        (".jsonl", b'{"task": "a"}', "missing key 'instruction'."),
        (".jsonl", b'{"task": "a", "instruction": " "}', "'instruction' is empty."),
        (
            ".jsonl",
            b'{"task": "a", "instruction": "I", "positive_examples": [{}]}',
            "positive_examples[0]: missing key",
        ),
        (".jsonl", b'{"task": "a", "instruction": "caf\xe9"}', "not UTF-8"),
        (".txt", b"a Do A.", "expected 'task<TAB>instruction'."),
        (".txt", b"a\t ", "expected 'task<TAB>instruction'."),
        (".txt", b" \tDo A.", "expected 'task<TAB>instruction'."),
        (".txt", b"a\tcaf\xe9", "not UTF-8"),
    ],
)
def test_every_fault_of_a_task_to_compile_names_file_line_and_field(
    tmp_path, suffix, line, message
):
    path = tmp_path / f"tasks{suffix}"
    path.write_bytes(b"\n" + line + b"\n")
    with pytest.raises(DataFormatError) as error:
        list(read_task_instructions(str(path)))
    assert str(error.value).startswith(f"{path}, line 2") and message in str(error.value)


def test_gold_choice_index():
    assert gold_choice_index(["yes", " no "], ["no"]) == 1
    assert gold_choice_index(["yes", "no"], ["maybe"]) is None


def test_a_task_named_twice_is_compiled_once_or_refused_if_its_instructions_differ(tmp_path):
    """Each task compiles to one file: the second instruction used to replace the first."""
    text = tmp_path / "tasks.txt"
    text.write_text("a\tDo A.\nb\tDo B.\na\tDo A.\n")
    assert [task for task, _ in read_task_instructions(str(text))] == ["a", "b"]
    text.write_text("a\tDo A.\nb\tDo B.\na\tDo something else.\n")
    with pytest.raises(
        DataFormatError,
        match=r"tasks.txt, line 3: task 'a' has another instruction at .*tasks.txt, line 1",
    ):
        list(read_task_instructions(str(text)))
    lines = tmp_path / "tasks.jsonl"
    lines.write_text(
        json.dumps({"task": "a", "instruction": "Do A."})
        + "\n"
        + json.dumps(
            {
                "task": "a",
                "instruction": "Do A.",
                "positive_examples": [{"input": "x", "output": "y"}],
            }
        )
        + "\n"
    )
    with pytest.raises(DataFormatError, match=r"line 2: task 'a' has another instruction"):
        list(read_task_instructions(str(lines)))
    # Two SNI task files of the same name, in two directories.
    for folder, definition in (("one", "Name the capital."), ("two", "Name the country.")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "capitals.json").write_text(
            json.dumps({**SNI_TASK, "Definition": [definition]})
        )
    with pytest.raises(
        DataFormatError,
        match=r"two/capitals.json: task 'capitals' has another instruction at .*one/capitals.json",
    ):
        list(read_task_instructions(str(tmp_path / "*" / "capitals.json")))


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".txt"])
def test_a_task_to_compile_may_start_with_a_byte_order_mark(tmp_path, suffix):
    content = {
        ".json": json.dumps(SNI_TASK),
        ".jsonl": json.dumps({"task": "capitals", "instruction": "Name the capital."}),
        ".txt": "capitals\tName the capital.",
    }[suffix]
    path = tmp_path / f"capitals{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + content.encode() + b"\n")
    [(task, instruction)] = list(read_task_instructions(str(path)))
    assert task == "capitals" and instruction.definition == "Name the capital."
