"""
A small instruction suite that a T5 trained from random weights learns on a CPU in a minute or two,
written as ordinary Super-NaturalInstructions task files so that it goes through the `sni` reader,
the SNI configs and `allennlp train / evaluate / predict` exactly as SNI does (`make demo` uses it).

Every input lists one word of each of four categories in random order ("bus pink cow rice"). Every
task asks for the words of one category, or of two categories in a given order ("Give the colour,
then the animal in the list." -> "pink cow"). All tasks share the inputs, so only the instruction
decides the answer. The tasks are the 4 single categories and the 12 ordered pairs; 4 pairs, one
cycle through the categories, are held out as unseen tasks, so that every category of an unseen pair
is asked for, first and second, by the training tasks (an unseen task is a new combination of what
the training tasks ask). The inputs are split three ways: training inputs (the training tasks'
instances), demonstration inputs (every task's "Positive Examples"), and held-out inputs (the only
inputs that unseen tasks and the held-out copies of the training tasks are evaluated on). The suite
is a function of its sizes and seed alone.

    <dir>/tasks/<task>.json            training tasks with training inputs; unseen tasks with
                                       held-out inputs
    <dir>/held_out_inputs/<task>.json  the training tasks again, with held-out inputs only
    <dir>/splits/train_tasks.txt       the training tasks (SNI's split format)
    <dir>/splits/test_tasks.txt        the unseen tasks
"""

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

CATEGORIES: Dict[str, Tuple[str, ...]] = {
    "animal": ("cat", "dog", "fish", "bird", "horse", "cow"),
    "colour": ("red", "blue", "green", "black", "white", "pink"),
    "food": ("bread", "milk", "rice", "cake", "apple", "soup"),
    "vehicle": ("car", "bus", "ship", "train", "bike", "boat"),
}
NUM_POSITIVE_EXAMPLES = 2
HELD_OUT_INPUTS_DIR = "held_out_inputs"


@dataclass(frozen=True)
class SuiteTask:
    """One task of the suite: the categories whose words it asks for, in answer order."""

    asks: Tuple[str, ...]

    @property
    def name(self) -> str:
        return "suite_give_" + "_then_".join(self.asks)

    @property
    def definition(self) -> str:
        return "Give the " + ", then the ".join(self.asks) + " in the list."

    def answer(self, words: Sequence[str]) -> str:
        return " ".join(
            next(word for word in words if word in CATEGORIES[category]) for category in self.asks
        )


def suite_tasks() -> Tuple[List[SuiteTask], List[SuiteTask]]:
    """
    (training tasks, unseen tasks): the unseen ones are the pairs (c_k, c_k+1) around the category
    cycle.
    """
    categories = list(CATEGORIES)
    unseen = [
        SuiteTask((first, second))
        for first, second in zip(categories, categories[1:] + categories[:1])
    ]
    pairs = [SuiteTask(pair) for pair in itertools.permutations(categories, 2)]
    training = [SuiteTask((category,)) for category in categories] + [
        task for task in pairs if task not in unseen
    ]
    return training, unseen


@dataclass(frozen=True)
class Suite:
    """Task records (SNI task objects) by task name, and which tasks are for training."""

    training_tasks: Dict[str, Dict[str, Any]]
    unseen_tasks: Dict[str, Dict[str, Any]]
    # The training tasks with held-out inputs in place of their instances.
    held_out_inputs: Dict[str, Dict[str, Any]]


def build_suite(instances_per_task: int = 300, held_out_inputs: int = 50, seed: int = 0) -> Suite:
    """
    The suite as SNI task objects: each training task has `instances_per_task` inputs drawn from
    the training inputs; every task is evaluated on the same `held_out_inputs` inputs.
    """
    if instances_per_task < 1 or held_out_inputs < 1:
        raise ValueError("instances_per_task and held_out_inputs must be positive")
    training, unseen = suite_tasks()
    rng = random.Random(seed)
    # Every list of one word per category, in every order: 6**4 * 4! = 31,104 inputs.
    all_inputs = [
        " ".join(order)
        for words in itertools.product(*CATEGORIES.values())
        for order in itertools.permutations(words)
    ]
    rng.shuffle(all_inputs)
    held_out = all_inputs[:held_out_inputs]
    demonstrations = iter(all_inputs[held_out_inputs:])
    positive_examples = {
        task: [next(demonstrations) for _ in range(NUM_POSITIVE_EXAMPLES)]
        for task in training + unseen
    }
    training_inputs = list(demonstrations)
    if instances_per_task > len(training_inputs):
        raise ValueError(f"instances_per_task can be at most {len(training_inputs)}")

    def record(task: SuiteTask, inputs: Sequence[str], split: str) -> Dict[str, Any]:
        return {
            "Contributors": ["hint_allennlp.data.instruction_suite"],
            "Source": ["synthetic"],
            "Categories": ["Information Extraction"],
            "Definition": [task.definition],
            "Input_language": ["English"],
            "Output_language": ["English"],
            "Instruction_language": ["English"],
            "Domains": ["Synthetic"],
            "Positive Examples": [
                {"input": text, "output": task.answer(text.split())}
                for text in positive_examples[task]
            ],
            "Negative Examples": [],
            "Instances": [
                {
                    "id": f"{task.name}-{split}-{index}",
                    "input": text,
                    "output": [task.answer(text.split())],
                }
                for index, text in enumerate(inputs)
            ],
        }

    return Suite(
        training_tasks={
            task.name: record(task, rng.sample(training_inputs, instances_per_task), "train")
            for task in training
        },
        unseen_tasks={task.name: record(task, held_out, "held_out") for task in unseen},
        held_out_inputs={task.name: record(task, held_out, "held_out") for task in training},
    )


def write_suite(output_dir: Path, suite: Suite) -> None:
    """
    Writes the suite in SNI's layout (see the module docstring); files are byte-for-byte
    reproducible.
    """
    output_dir = Path(output_dir)
    for folder, records in (
        ("tasks", {**suite.training_tasks, **suite.unseen_tasks}),
        (HELD_OUT_INPUTS_DIR, suite.held_out_inputs),
    ):
        (output_dir / folder).mkdir(parents=True, exist_ok=True)
        for name, task_record in records.items():
            (output_dir / folder / f"{name}.json").write_text(
                json.dumps(task_record, indent=1) + "\n", encoding="utf-8"
            )
    (output_dir / "splits").mkdir(parents=True, exist_ok=True)
    for split, records in (
        ("train_tasks", suite.training_tasks),
        ("test_tasks", suite.unseen_tasks),
    ):
        (output_dir / "splits" / f"{split}.txt").write_text(
            "".join(f"{name}\n" for name in records), encoding="utf-8"
        )
