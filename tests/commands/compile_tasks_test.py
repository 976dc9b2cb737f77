"""
`allennlp hint-compile` refuses what it can before loading the model (the archive named here does
not exist: an error about it would mean that the model was loaded first), reads every task file of
a folder, and keeps one model's compiled tasks per folder.
"""

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from hint_allennlp.commands.compile_tasks import compile_tasks
from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.modules.serving.compiled_task import contents_checksum
from tests import SNI_FIXTURES, run_allennlp
from tests.data.dataset_readers.sni_test import make_reader

NO_ARCHIVE = "no-such-model.tar.gz"
SNI_TASK = SNI_FIXTURES / "tasks" / "task1146_country_capital.json"


def test_an_output_dir_that_is_an_existing_file_is_refused(tmp_path):
    """It used to end in a raw FileExistsError after the model had loaded."""
    tasks, output = tmp_path / "tasks.txt", tmp_path / "compiled"
    tasks.write_text("a\tDo A.\n")
    output.write_text("a file\n")
    with pytest.raises(ConfigurationError, match=f"--output-dir {output} is a file"):
        compile_tasks(NO_ARCHIVE, str(tasks), str(output))


def test_a_task_given_two_instructions_is_refused_before_the_model_loads(tmp_path):
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("a\tDo A.\na\tDo B.\n")
    with pytest.raises(DataFormatError, match="line 2: task 'a' has another instruction"):
        compile_tasks(NO_ARCHIVE, str(tasks), str(tmp_path / "compiled"))
    assert not (tmp_path / "compiled").exists()


def test_a_cuda_device_this_machine_lacks_is_refused_in_the_options_words(tmp_path):
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("a\tDo A.\n")
    missing = torch.cuda.device_count()
    with pytest.raises(ConfigurationError, match=f"--cuda-device {missing}: this machine has"):
        compile_tasks(NO_ARCHIVE, str(tasks), str(tmp_path / "compiled"), cuda_device=missing)


@pytest.mark.slow
def test_a_folder_is_compiled_whole_and_another_models_output_is_refused(
    trained_archive, tmp_path, monkeypatch, caplog
):
    """
    `hint-compile ARCHIVE DIR` used to compile only DIR's .json files, skipping the tasks of a
    .jsonl without a word; an --output-dir holding another model's compiled tasks used to be
    written into, leaving a folder that mixes two models.
    """
    monkeypatch.chdir(tmp_path)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    shutil.copy(SNI_TASK, tasks / "a.json")
    (tasks / "more.jsonl").write_text(
        json.dumps({"task": "more", "instruction": "Return the country's capital."}) + "\n"
    )
    (tasks / "notes.md").write_text("not a task\n")
    with caplog.at_level(logging.WARNING):
        run_allennlp("hint-compile", str(trained_archive), "tasks", "--output-dir", "compiled")
    assert sorted(path.name for path in Path("compiled").iterdir()) == [
        "a.hint.pt",
        "more.hint.pt",
    ]
    assert "tasks: 1 file(s) skipped, not task files (.json, .jsonl, .txt): ['notes.md']" in (
        caplog.text
    )

    # A task compiled by another model, as `hint-compile` writes one.
    other = torch.load("compiled/a.hint.pt", weights_only=True)
    other.update(task="other", fingerprint="0" * 64, archive="/elsewhere/model.tar.gz")
    other["checksum"] = contents_checksum(other)
    torch.save(other, "compiled/other.hint.pt")
    with pytest.raises(ConfigurationError) as refused:
        run_allennlp("hint-compile", str(trained_archive), "tasks", "--output-dir", "compiled")
    assert str(refused.value).startswith(
        "--output-dir compiled holds 1 compiled task file(s) of another model, such as "
        "other.hint.pt (compiled from /elsewhere/model.tar.gz)"
    )
    run_allennlp(
        "hint-compile", str(trained_archive), "tasks", "--output-dir", "compiled", "--overwrite"
    )
    assert sorted(path.name for path in Path("compiled").iterdir()) == [
        "a.hint.pt",
        "more.hint.pt",
    ]


def test_chunked_instructions_compile_and_predict_what_they_predict_uncompiled(
    trained_archive, tmp_path, monkeypatch
):
    """
    Many-shot instructions (`instruction_chunking`) through the CLI: the archive's reader set to
    give the definition and each example as a chunk of its own; the compiled task (the chunks'
    encodings, concatenated) predicts what its instruction, encoded in chunks, predicts.
    """
    monkeypatch.chdir(tmp_path)
    overrides = json.dumps(
        {
            "dataset_reader.instruction_chunking": "per_example",
            "dataset_reader.num_positive_examples": 2,
        }
    )
    run_allennlp(
        "hint-compile", str(trained_archive), str(SNI_TASK), "--output-dir", "compiled",
        "--overrides", overrides,
    )  # fmt: skip
    task = json.loads(SNI_TASK.read_text())
    instruction = {
        "instruction": task["Definition"][0],
        "positive_examples": task["Positive Examples"],
    }
    inputs = ["Albania", "Peru", "Japan"]
    Path("inputs.jsonl").write_text(
        "".join(
            json.dumps(line) + "\n"
            for country in inputs
            for line in (
                {"task": SNI_TASK.stem, "input": country},
                {**instruction, "input": country},
            )
        )
    )
    run_allennlp(
        "predict", str(trained_archive), "inputs.jsonl", "--output-file", "out.jsonl",
        "--silent", "--overrides", overrides,
        "--predictor-args", json.dumps({"compiled_tasks": ["compiled"]}),
    )  # fmt: skip
    predictions = [json.loads(line) for line in Path("out.jsonl").read_text().splitlines()]
    assert len(predictions) == 2 * len(inputs)
    for from_compiled, from_instruction in zip(predictions[::2], predictions[1::2]):
        assert from_compiled["prediction"] == from_instruction["prediction"]
    # Three chunks (the definition, two examples): the encoded instruction kept is their tokens.
    compiled = torch.load(f"compiled/{SNI_TASK.stem}.hint.pt", weights_only=True)
    reader = make_reader(num_positive_examples=2, instruction_chunking="per_example")
    chunks = next(iter(reader.read(str(SNI_TASK))))["instruction_tokens"].field_list
    assert len(chunks) == 3
    assert compiled["tensors"]["instruction_states"].size(1) == sum(len(c) for c in chunks)
