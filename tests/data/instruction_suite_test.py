"""
The demo's instruction suite: the instruction decides the answer, nothing held out reaches training,
the files are SNI task files the `sni` reader reads, and the suite is a function of its seed.
"""

import itertools
import json
from collections import defaultdict

import pytest

from hint_allennlp.data.dataset_readers.sni import SuperNaturalInstructionsReader
from hint_allennlp.data.instruction_suite import CATEGORIES, build_suite, suite_tasks, write_suite
from tests import TINY_T5

INSTANCES_PER_TASK, HELD_OUT_INPUTS = 40, 10


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("suite")
    write_suite(directory, build_suite(INSTANCES_PER_TASK, HELD_OUT_INPUTS, seed=3))
    return directory


def read_tasks(folder):
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def split(suite_dir, name):
    return (suite_dir / "splits" / f"{name}.txt").read_text().split()


def category_of(word):
    return next(category for category, words in CATEGORIES.items() if word in words)


def test_every_input_has_one_word_of_each_category_and_answers_follow_the_definition(suite_dir):
    """
    Checked from the text alone: the definition names the categories, the answer gives their words.
    """
    for folder in ("tasks", "held_out_inputs"):
        for task in read_tasks(suite_dir / folder).values():
            definition = task["Definition"][0]
            asked = definition[len("Give the ") : -len(" in the list.")].split(", then the ")
            for example in task["Instances"] + task["Positive Examples"]:
                words = example["input"].split()
                assert sorted(map(category_of, words)) == sorted(CATEGORIES)
                answer = (
                    example["output"][0]
                    if isinstance(example["output"], list)
                    else example["output"]
                )
                assert [category_of(word) for word in answer.split()] == asked
                assert all(word in words for word in answer.split())


def test_the_instruction_decides_the_answer(suite_dir):
    """The same input gets a different answer under every instruction."""
    answers = defaultdict(dict)
    for folder in ("tasks", "held_out_inputs"):
        for name, task in read_tasks(suite_dir / folder).items():
            for instance in task["Instances"]:
                answers[instance["input"]][name] = instance["output"][0]
    num_tasks = len(split(suite_dir, "train_tasks")) + len(split(suite_dir, "test_tasks"))
    held_out_inputs = [text for text, by_task in answers.items() if len(by_task) == num_tasks]
    assert (
        len(held_out_inputs) == HELD_OUT_INPUTS
    )  # every task is evaluated on every held-out input
    shared = [by_task for by_task in answers.values() if len(by_task) > 1]
    assert len(shared) > HELD_OUT_INPUTS  # training inputs are shared by training tasks too
    for by_task in shared:
        assert len(set(by_task.values())) == len(by_task)


def test_held_out_inputs_and_tasks_never_appear_in_training(suite_dir):
    training_names, unseen_names = split(suite_dir, "train_tasks"), split(suite_dir, "test_tasks")
    tasks = read_tasks(suite_dir / "tasks")
    assert sorted(tasks) == sorted(training_names + unseen_names) and not set(training_names) & set(
        unseen_names
    )
    training = [tasks[name] for name in training_names]
    # Everything training shows the model: definitions, demonstrations, instances.
    training_definitions = {task["Definition"][0] for task in training}
    training_inputs = {
        example["input"]
        for task in training
        for example in task["Instances"] + task["Positive Examples"]
    }
    assert all(len(task["Instances"]) == INSTANCES_PER_TASK for task in training)

    held_out_copies = read_tasks(suite_dir / "held_out_inputs")
    assert sorted(held_out_copies) == sorted(training_names)
    for name, copy in held_out_copies.items():
        assert copy["Definition"] == tasks[name]["Definition"]
        assert copy["Positive Examples"] == tasks[name]["Positive Examples"]
    evaluated = list(held_out_copies.values()) + [tasks[name] for name in unseen_names]
    evaluated_inputs = {instance["input"] for task in evaluated for instance in task["Instances"]}
    assert len(evaluated_inputs) == HELD_OUT_INPUTS
    assert not evaluated_inputs & training_inputs
    assert not {tasks[name]["Definition"][0] for name in unseen_names} & training_definitions


def test_unseen_tasks_are_new_combinations_of_what_training_asks():
    training, unseen = suite_tasks()
    training_pairs = [task.asks for task in training if len(task.asks) == 2]
    assert {task.asks for task in training if len(task.asks) == 1} == {
        (category,) for category in CATEGORIES
    }
    assert sorted(training_pairs + [task.asks for task in unseen]) == sorted(
        itertools.permutations(CATEGORIES, 2)
    )
    for first, second in (task.asks for task in unseen):
        assert any(pair[0] == first for pair in training_pairs) and any(
            pair[1] == second for pair in training_pairs
        )


def test_the_sni_reader_reads_the_splits(suite_dir):
    reader = SuperNaturalInstructionsReader(
        tasks_dir=str(suite_dir / "tasks"),
        instruction_format="hint",
        num_positive_examples=2,
        model_name=str(TINY_T5),
    )
    training = list(reader.read(str(suite_dir / "splits" / "train_tasks.txt")))
    unseen = list(reader.read(str(suite_dir / "splits" / "test_tasks.txt")))
    assert len(training) == len(split(suite_dir, "train_tasks")) * INSTANCES_PER_TASK
    assert len(unseen) == len(split(suite_dir, "test_tasks")) * HELD_OUT_INPUTS
    instruction = " ".join(token.text for token in unseen[0]["instruction_tokens"].tokens)
    assert "Positive" in instruction and "Give" in instruction


def test_the_suite_is_a_function_of_its_seed(tmp_path, suite_dir):
    write_suite(tmp_path / "again", build_suite(INSTANCES_PER_TASK, HELD_OUT_INPUTS, seed=3))
    write_suite(tmp_path / "other_seed", build_suite(INSTANCES_PER_TASK, HELD_OUT_INPUTS, seed=4))
    files = sorted(path.relative_to(suite_dir) for path in suite_dir.rglob("*") if path.is_file())
    assert len(files) == 2 + 16 + 12
    for relative in files:
        assert (tmp_path / "again" / relative).read_bytes() == (suite_dir / relative).read_bytes()
    assert (tmp_path / "other_seed" / "tasks" / "suite_give_animal.json").read_bytes() != (
        suite_dir / "tasks" / "suite_give_animal.json"
    ).read_bytes()
