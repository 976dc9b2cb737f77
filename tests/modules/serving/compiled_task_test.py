import collections
import os

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from hint_allennlp.modules.serving.compiled_task import CompiledTask


class NotPlainData:
    """An object that only an unrestricted unpickler (which can run code) would rebuild."""


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_text("junk\n"),
        lambda path: path.write_bytes(os.urandom(4096)),
        lambda path: torch.save({"tensors": collections.OrderedDict, "x": NotPlainData()}, path),
        lambda path: path.write_bytes(b""),
    ],
    ids=["text", "random bytes", "python objects", "empty"],
)
def test_a_file_that_is_not_a_compiled_task_is_refused_without_torchs_advice(tmp_path, write):
    """torch's message says to retry with weights_only=False: never to be done with such a file."""
    path = tmp_path / "junk.hint.pt"
    write(path)
    with pytest.raises(ConfigurationError) as refused:
        CompiledTask.load(path, expected_fingerprint="0" * 64)
    message = str(refused.value)
    assert message.startswith(f"{path}: not a compiled task file") and "hint-compile" in message
    assert "weights_only" not in message
    # Nor in the traceback: torch's error is not chained.
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
