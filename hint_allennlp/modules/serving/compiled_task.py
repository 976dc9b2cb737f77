"""
Compiled tasks: what the hypernetwork made of one task's instruction, saved to a file by
`allennlp hint-compile`, so that a predictor can serve the task without running the hypernetwork.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from allennlp.common.checks import ConfigurationError
from torch import nn

from hint_allennlp.modules.inserted.task_state import TaskState

# 2: with a checksum of the file's contents.
COMPILED_TASK_FORMAT_VERSION = 2
COMPILED_TASK_SUFFIX = ".hint.pt"


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of every weight, by name: equal exactly when two models compute the same thing."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def contents_checksum(saved: Dict[str, Any]) -> str:
    """SHA-256 of what a compiled task file holds (everything but the checksum itself)."""
    digest = hashlib.sha256()
    described = {
        name: value for name, value in saved.items() if name not in ("tensors", "checksum")
    }
    digest.update(json.dumps(described, sort_keys=True).encode())
    for name, tensor in sorted(saved["tensors"].items()):
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class CompiledTask:
    """
    task : the task's name.
    instruction : how the reader builds the task's hypernetwork input (`text_to_instance` keyword
        arguments: "instruction", "positive_examples", "negative_examples", "categories"), so that
        inputs naming only the task get the same instruction tokens.
    key : the `instruction_key` of those tokens.
    parameters : the generated parameters and encoded instruction (batch size 1).
    fingerprint : the `model_fingerprint` of the model that made them.
    archive : the archive they were compiled from, as `allennlp hint-compile` was given it.
    """

    task: str
    instruction: Dict[str, Any]
    key: str
    parameters: TaskState
    fingerprint: str
    archive: Optional[str] = None

    def save(self, directory: Union[str, Path]) -> Path:
        path = Path(directory) / f"{self.task}{COMPILED_TASK_SUFFIX}"
        saved = {
            "format_version": COMPILED_TASK_FORMAT_VERSION,
            "task": self.task,
            "instruction": self.instruction,
            "key": self.key,
            "fingerprint": self.fingerprint,
            "archive": self.archive,
            "tensors": {name: tensor.cpu() for name, tensor in self.parameters.items()},
        }
        saved["checksum"] = contents_checksum(saved)
        torch.save(saved, path)
        return path

    @classmethod
    def load(cls, path: Union[str, Path], expected_fingerprint: str) -> "CompiledTask":
        """
        Loads a compiled task, refusing a damaged file (its contents must match their checksum) and
        one from another format version or another model.
        """
        with open(path, "rb"):
            pass  # a file that cannot be opened: the error names it
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            # torch's message advises loading with `weights_only=False`, which runs whatever code
            # the file holds: it is neither repeated nor chained.
            raise ConfigurationError(
                f"{path}: not a compiled task file (damaged, e.g. half-written; not written by "
                "torch.save; or holding Python objects other than tensors and plain data, which "
                "are never loaded: loading them could run code); compile the task again with "
                "`allennlp hint-compile`"
            ) from None
        if (
            not isinstance(saved, dict)
            or saved.get("format_version") != COMPILED_TASK_FORMAT_VERSION
        ):
            version = saved.get("format_version") if isinstance(saved, dict) else None
            raise ConfigurationError(
                f"{path}: compiled task format version {version}, this version of hint_allennlp "
                f"reads version {COMPILED_TASK_FORMAT_VERSION}; compile the task again"
            )
        if saved.get("checksum") != contents_checksum(saved):
            raise ConfigurationError(
                f"{path}: the file's contents do not match their checksum (the file is damaged); "
                "compile the task again with `allennlp hint-compile`"
            )
        if saved["fingerprint"] != expected_fingerprint:
            raise ConfigurationError(
                f"{path}: compiled by a different model "
                f"(fingerprint {saved['fingerprint'][:12]}..., "
                f"this model's is {expected_fingerprint[:12]}...); "
                "compile it again with this model's archive"
            )
        return cls(
            task=saved["task"],
            instruction=saved["instruction"],
            key=saved["key"],
            parameters=TaskState(saved["tensors"]),
            fingerprint=saved["fingerprint"],
            archive=saved.get("archive"),
        )

    @staticmethod
    def made_by(path: Union[str, Path]) -> Tuple[Optional[str], Optional[str]]:
        """
        The fingerprint and archive a compiled task file names, unchecked; `(None, None)` for a
        file that cannot be read as one.
        """
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 (any unreadable file: not attributable to a model)
            return None, None
        if not isinstance(saved, dict):
            return None, None
        return saved.get("fingerprint"), saved.get("archive")
