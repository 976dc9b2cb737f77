"""
The pretrained HuggingFace model a model of this package is built around (its backbone: a T5, a
GPT-2, an OPT), loaded by hub name or local path, or from the copy of its config and tokenizer that
a run keeps, so that an archive carries what it needs to rebuild the model anywhere.

A model built for training saves the backbone's config, generation config and tokenizer files
(no weights) to `backbone/` in its serialization directory, with the `model_name` they are a copy
of (`save_backbone`); the configs archive that folder (`include_in_archive: ['backbone']`). When
AllenNLP loads an archive it hands the model and the readers the extracted folder as their
`serialization_dir`:

- the model, loaded by `Model.load` inside `loading_archive()` (a model's `_load` enters it),
  builds the backbone from the saved config without reading the pretrained weights, which the
  archive's weights replace anyway (`load_backbone`; for a 3B T5 that spares reading 12 GB);
- the readers and the model take the tokenizer from the saved copy (`config_source`).

So neither the original `model_name` (a path relative to where the run was started, or a hub name
on a machine without a network) is needed again. An archive without the folder (written before it
existed, or by a config without `include_in_archive`) loads from `model_name` as before.

A local `model_name` that does not exist fails at once, naming the path and the working directory
(`check_model_name`): transformers would take `output/demo/t5` for a hub name and retry the network
for over a minute before saying so. So does a hub name that is not in the local cache when the hub
is offline or unreachable (`check_hub_name_available`), naming the cache searched.
"""

import functools
import json
import logging
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator, List, Optional, Type, Union
from urllib.parse import urlparse

import torch
import torch.distributed as dist
from allennlp.common import cached_transformers
from allennlp.common.checks import ConfigurationError
from huggingface_hub import constants as huggingface_constants
from huggingface_hub import try_to_load_from_cache
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import AutoConfig, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_utils import no_init_weights
from transformers.utils import CONFIG_NAME

logger = logging.getLogger(__name__)

# The folder of a serialization directory (and of an archive) with the backbone's copy.
BACKBONE_DIR = "backbone"
# In that folder: which `model_name` the files are a copy of.
SOURCE_FILE = "hint_backbone.json"

# The environment variables that put the Hugging Face libraries offline.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# How long the hub may take to accept a connection before it counts as unreachable.
HUB_PROBE_SECONDS = 3.0

_loading_archive: ContextVar[bool] = ContextVar("loading_archive", default=False)


@contextmanager
def loading_archive() -> Iterator[None]:
    """
    Marks the model being built as one that AllenNLP loads from an archive (`Model.load`), whose
    weights follow: `load_backbone` then builds the backbone from the archive's copy of its config.
    A model's `_load` enters it around `super()._load(...)`.
    """
    token = _loading_archive.set(True)
    try:
        yield
    finally:
        _loading_archive.reset(token)


def saved_model_name(serialization_dir: Optional[str]) -> Optional[str]:
    """The `model_name` whose files `serialization_dir`'s backbone folder is a copy of, if any."""
    if serialization_dir is None:
        return None
    try:
        source = json.loads((Path(serialization_dir) / BACKBONE_DIR / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return source.get("model_name") if isinstance(source, dict) else None


def saved_backbone(model_name: str, serialization_dir: Optional[str]) -> Optional[Path]:
    """The folder in `serialization_dir` that holds a copy of `model_name`'s files, if any."""
    if serialization_dir is None or saved_model_name(serialization_dir) != model_name:
        return None
    return Path(serialization_dir) / BACKBONE_DIR


def check_model_name(model_name: str) -> str:
    """
    `model_name` itself if it is an existing folder or can only be a hub name; raises
    `ConfigurationError` for a local path that does not exist: an absolute or `./`, `../`, `~`
    path, a name that cannot be a hub repository id (e.g. `output/demo/t5`: more than one `/`), or
    one whose first folder exists here (`fixtures/tiny-t5` with `fixtures/` but no `tiny-t5`).
    """
    path = Path(model_name).expanduser()
    if path.is_dir():
        return model_name
    try:
        validate_repo_id(model_name)
        hub_name = not (len(path.parts) > 1 and Path(path.parts[0]).is_dir())
    except HFValidationError:
        hub_name = False
    if hub_name and not path.is_absolute() and not model_name.startswith((".", "~")):
        check_hub_name_available(model_name)
        return model_name
    raise ConfigurationError(
        f"model_name {model_name!r} is a local path, and there is no such folder: "
        f"{path.absolute()} (a relative path is read from the working directory, {os.getcwd()}). "
        "Give the checkpoint's folder (what save_pretrained wrote) or a hub name such as "
        "'google/t5-base-lm-adapt'."
    )


def check_hub_name_available(model_name: str) -> None:
    """
    Refuses, at once, a hub name that is not in the local Hugging Face cache when the hub cannot
    serve it: offline mode is set (`HF_HUB_OFFLINE`, `TRANSFORMERS_OFFLINE`) or the hub does not
    answer a short connection probe. transformers would retry for most of a minute before failing.
    """
    if isinstance(try_to_load_from_cache(model_name, CONFIG_NAME), str):
        return
    offline = next(
        (variable for variable in OFFLINE_VARIABLES if _is_set(os.environ.get(variable))),
        "HF_HUB_OFFLINE" if huggingface_constants.HF_HUB_OFFLINE else None,
    )
    if offline is None and hub_reachable():
        return
    why = (
        f"{offline} is set"
        if offline is not None
        else f"the hub ({huggingface_constants.ENDPOINT}) cannot be reached from this machine"
    )
    raise ConfigurationError(
        f"model_name {model_name!r} is neither a local folder (none in {os.getcwd()}) nor in the "
        f"Hugging Face cache searched, {huggingface_constants.HF_HUB_CACHE}, and {why}. Give the "
        "checkpoint's folder, download it where the hub is reachable (`huggingface-cli download "
        f"{model_name}`), or point HF_HUB_CACHE (or HF_HOME) at a cache that holds it."
    )


def _is_set(value: Optional[str]) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


@functools.lru_cache(maxsize=None)
def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """
    Whether a TCP connection to the hub's host opens within `timeout` seconds (once per process).
    The probe runs in a thread because name resolution ignores socket timeouts.
    """
    endpoint = urlparse(huggingface_constants.ENDPOINT)
    address = (endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80))
    outcome: List[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def config_source(model_name: str, serialization_dir: Optional[str] = None) -> str:
    """
    What to read `model_name`'s config and build its tokenizer from: the copy in
    `serialization_dir` (an archive's extracted folder, or the run's own) if it has one, else
    `model_name` (checked).
    """
    saved = saved_backbone(model_name, serialization_dir)
    return str(saved) if saved is not None else check_model_name(model_name)


def load_tokenizer(
    model_name: str, serialization_dir: Optional[str] = None
) -> PreTrainedTokenizerBase:
    """`model_name`'s tokenizer, through AllenNLP's cache, from `config_source`."""
    return cached_transformers.get_tokenizer(config_source(model_name, serialization_dir))


def load_backbone(
    model_class: Union[Type[PreTrainedModel], type],
    model_name: str,
    serialization_dir: Optional[str] = None,
    **config_overrides,
) -> PreTrainedModel:
    """
    `model_class` (a concrete HF class such as `T5ForConditionalGeneration`, or an Auto class such
    as `AutoModelForCausalLM`) for `model_name`, with `config_overrides` applied to its config (as
    `from_pretrained(model_name, **config_overrides)` applies them):

    - inside `loading_archive()`, when `serialization_dir` holds a copy of `model_name`'s files:
      built from the copied config in torch's default dtype (float32, as `from_pretrained`
      loads), its weights left uninitialised (the archive's state dict replaces all of them),
      tied and in eval mode as `from_pretrained` leaves them;
    - otherwise `model_class.from_pretrained` of the checked `model_name`.
    """
    saved = saved_backbone(model_name, serialization_dir) if _loading_archive.get() else None
    if saved is None:
        if _loading_archive.get():
            logger.info(
                "The archive has no copy of %s's config (%s/): loading its pretrained weights, "
                "which the archive's weights then replace.",
                model_name,
                BACKBONE_DIR,
            )
        return model_class.from_pretrained(check_model_name(model_name), **config_overrides)
    config = AutoConfig.from_pretrained(saved, **config_overrides)
    build = getattr(model_class, "from_config", None) or model_class._from_config
    with no_init_weights():
        backbone = build(config, torch_dtype=torch.get_default_dtype())
    # Skipped with the initialisation; `from_pretrained` ties the weights after loading.
    backbone.tie_weights()
    if (saved / "generation_config.json").exists():
        backbone.generation_config = GenerationConfig.from_pretrained(saved)
    return backbone.eval()


def save_backbone(
    model_name: str,
    backbone: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    serialization_dir: Optional[str],
) -> None:
    """
    Saves what `load_backbone` and `config_source` need to rebuild `model_name` from
    `serialization_dir`: the checkpoint's config as published (without the model's overrides,
    which its config applies again), the backbone's generation config and the tokenizer's files.
    Only when building a model for training (not inside `loading_archive()`), for an existing
    `serialization_dir`, by the primary worker; a run that already has the copy (`--recover`)
    keeps it. Written to a temporary folder first, so that no reader meets a half-written one.
    """
    if (
        _loading_archive.get()
        or serialization_dir is None
        or not os.path.isdir(serialization_dir)
        or (dist.is_available() and dist.is_initialized() and dist.get_rank() != 0)
        or saved_backbone(model_name, serialization_dir) is not None
    ):
        return
    folder = Path(serialization_dir) / BACKBONE_DIR
    partial = Path(serialization_dir) / f".{BACKBONE_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    AutoConfig.from_pretrained(check_model_name(model_name)).save_pretrained(partial)
    if backbone.can_generate():
        backbone.generation_config.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / SOURCE_FILE).write_text(json.dumps({"model_name": model_name}) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
