"""
`allennlp hint-compile` refuses what it can before loading the model (the archive named here does
not exist: an error about it would mean that the model was loaded first).
"""

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from hint_allennlp.commands.compile_tasks import compile_tasks
from hint_allennlp.data.file_reading import DataFormatError

NO_ARCHIVE = "no-such-model.tar.gz"


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
