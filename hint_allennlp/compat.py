"""
Makes the standard AllenNLP 2.10.1 pieces work on the stack this plugin supports (Python 3.11,
torch 2.x, transformers 4.46-4.49). AllenNLP's last release predates these versions; each patch
below names the break it repairs and the versions it is for, says whether this stack has the break
(`needed`: from the versions, or by trying the behaviour), and is tested in `tests/compat_test.py`.
One more makes `allennlp predict` report faults in this plugin's input instead of losing lines,
one moves its output file into place only when complete, two check the arguments of `allennlp
predict` and `allennlp evaluate` before the model loads, one gives `allennlp evaluate` readable
prediction lines for this plugin's models, and one makes `allennlp train` refuse trainer keys
(and values) that AllenNLP's trainer would ignore (or divide by). Importing
`hint_allennlp` applies those needed, once.

A patch is a function registered with `@patch(versions, needed)`; `apply_all` runs them in the
order they are defined.
"""

import difflib
import functools
import inspect
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple

import allennlp.version
import torch
import transformers
from allennlp.commands import evaluate as evaluate_command
from allennlp.commands import predict as predict_command
from allennlp.common import cached_transformers
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path, open_compressed
from allennlp.common.from_params import infer_method_params
from allennlp.training import GradientDescentTrainer, Trainer
from transformers.generation.utils import GenerationMixin

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Patch:
    """
    name : the function that applies it.
    versions : the versions it is for.
    needed : whether the stack in use has the break it repairs (False once it is applied).
    apply : applies it.
    """

    name: str
    versions: str
    needed: Callable[[], bool]
    apply: Callable[[], None]


PATCHES: Dict[str, Patch] = {}


def patch(versions: str, needed: Callable[[], bool]) -> Callable:
    """Registers the decorated function as the patch that applies the fix."""

    def register(apply: Callable[[], None]) -> Callable[[], None]:
        PATCHES[apply.__name__] = Patch(apply.__name__, versions, needed, apply)
        return apply

    return register


def apply_all() -> List[str]:
    """Applies every patch this stack needs; returns their names."""
    applied = []
    for registered in PATCHES.values():
        if registered.needed():
            registered.apply()
            applied.append(registered.name)
    return applied


def _release(version: str) -> Tuple[int, ...]:
    """The leading numbers of a version string: "4.50.0.dev0" -> (4, 50, 0)."""
    numbers = []
    for part in version.split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


def _mark(wrapper: Callable) -> Callable:
    """Marks `wrapper` as this module's, so that a patch is not applied twice."""
    wrapper._hint_compat = True  # type: ignore[attr-defined]
    return wrapper


def _is_marked(function: Callable) -> bool:
    return getattr(function, "_hint_compat", False)


def _allennlp_2_10_1() -> bool:
    return allennlp.version.VERSION == "2.10.1"


def _tokenizers_refuse_method_kwargs() -> bool:
    return _release(transformers.__version__) >= (4, 42) and not _is_marked(
        cached_transformers.get_tokenizer
    )


@patch("AllenNLP 2.10.1 with transformers >= 4.42", needed=_tokenizers_refuse_method_kwargs)
def drop_add_special_tokens_kwarg() -> None:
    """
    `PretrainedTransformerTokenizer` (and through it `PretrainedTransformerIndexer`) asks
    `cached_transformers.get_tokenizer(name, add_special_tokens=False, ...)`.
    Since transformers 4.42 a tokenizer refuses init kwargs named like its methods
    ("add_special_tokens conflicts with the method add_special_tokens in T5Tokenizer"). The kwarg
    never changed how the tokenizer is built (AllenNLP passes `add_special_tokens` per call), so it
    is dropped before it reaches HF.
    """
    get_tokenizer = cached_transformers.get_tokenizer

    @_mark
    @functools.wraps(get_tokenizer)
    def get_tokenizer_without_method_kwargs(model_name: str, **kwargs):
        kwargs.pop("add_special_tokens", None)
        return get_tokenizer(model_name, **kwargs)

    cached_transformers.get_tokenizer = get_tokenizer_without_method_kwargs


def generate_drops_the_encoder_mask(prepare_inputs: Optional[Callable] = None) -> bool:
    """
    Whether `prepare_inputs` (`GenerationMixin.prepare_inputs_for_generation` by default) leaves out
    the encoder's mask of an encoder-decoder model, tried on a stand-in for one. If the stand-in no
    longer suffices (a later transformers), the patch is taken as needed: it only adds a missing
    mask.
    """
    prepare_inputs = prepare_inputs or GenerationMixin.prepare_inputs_for_generation

    class EncoderDecoder:
        _supports_cache_class = False
        config = SimpleNamespace(is_encoder_decoder=True)

        def forward(self, decoder_input_ids=None, attention_mask=None):
            """The signature `prepare_inputs_for_generation` inspects."""

    try:
        model_inputs = prepare_inputs(
            EncoderDecoder(),
            torch.zeros(1, 1, dtype=torch.long),
            attention_mask=torch.ones(1, 3, dtype=torch.long),
        )
    except Exception:  # noqa: BLE001 (any failure of the stand-in: apply the patch)
        return True
    return "attention_mask" not in model_inputs


@patch(
    "transformers 4.49 (huggingface/transformers#36293, fixed in 4.50)",
    needed=generate_drops_the_encoder_mask,
)
def keep_encoder_mask_in_generate() -> None:
    """
    transformers 4.49's `GenerationMixin.prepare_inputs_for_generation` takes the encoder's
    `attention_mask` as a parameter and, for encoder-decoder models, never passes it on: `generate`
    on a padded batch lets the decoder cross-attend to padding, so an example's output depends on
    its batch (huggingface/transformers#36293, fixed in 4.50, which AllenNLP cannot import). The
    mask is put back when the model inputs lack it; on versions without the bug this changes
    nothing.
    """
    prepare_inputs = GenerationMixin.prepare_inputs_for_generation

    @_mark
    @functools.wraps(prepare_inputs)
    def prepare_inputs_with_encoder_mask(self, *args, attention_mask=None, **kwargs):
        model_inputs = prepare_inputs(self, *args, attention_mask=attention_mask, **kwargs)
        if self.config.is_encoder_decoder and attention_mask is not None:
            model_inputs.setdefault("attention_mask", attention_mask)
        return model_inputs

    GenerationMixin.prepare_inputs_for_generation = prepare_inputs_with_encoder_mask


def _every_node_archives() -> bool:
    from allennlp.commands import train

    return _allennlp_2_10_1() and not _is_marked(train.train_model)


@patch("AllenNLP 2.10.1", needed=_every_node_archives)
def archive_on_the_primary_node_only() -> None:
    """
    `allennlp train --node-rank 1` (any node but the primary, node 0) trains, then archives
    `best.th` from its own serialization directory, which only the primary writes: the run ends in
    `RuntimeError: weights file '.../best.th' does not exist` (or, with a directory shared by the
    nodes, races node 0 writing the same `model.tar.gz`). The other nodes now leave the archive to
    node 0.
    """
    from allennlp.commands import train

    train_model = train.train_model

    @_mark
    @functools.wraps(train_model)
    def train_model_archiving_on_node_0(*args, node_rank: int = 0, **kwargs):
        if node_rank == 0:
            return train_model(*args, node_rank=node_rank, **kwargs)
        archive_model = train.archive_model

        def leave_the_archive_to_node_0(serialization_dir, *_, **__) -> None:
            logger.info(
                "Node %d: model.tar.gz is written by node 0, not in %s",
                node_rank,
                serialization_dir,
            )

        train.archive_model = leave_the_archive_to_node_0
        try:
            return train_model(*args, node_rank=node_rank, **kwargs)
        finally:
            train.archive_model = archive_model

    train.train_model = train_model_archiving_on_node_0


def _predict_writes_its_output_in_place() -> bool:
    return _allennlp_2_10_1() and not _is_marked(predict_command._PredictManager.__init__)


@patch("AllenNLP 2.10.1", needed=_predict_writes_its_output_in_place)
def move_predictions_into_place_when_done() -> None:
    """
    `allennlp predict --output-file F` empties F before the first prediction and writes as it
    goes: two runs writing the same F both exit 0 and leave their lines mixed (one cut in two),
    and a failed run leaves part of its lines. The lines now go to a temporary file beside F
    (`.F.*.partial`), moved over F (`os.replace`, one step) once the run has written them all, and
    deleted if it fails: F holds a complete old output or a complete new one, never a mixture.
    Applied before `let_predictors_read_their_whole_input`, so that a predictor's `report_input`
    (which may refuse the input after every line is written) finds the output in place.
    """
    manager = predict_command._PredictManager
    init, run = manager.__init__, manager.run

    @_mark
    @functools.wraps(init)
    def init_writing_beside_the_output(self, predictor, input_file, output_file, *args, **kwargs):
        init(self, predictor, input_file, None, *args, **kwargs)
        self._final_output_file = output_file
        self._partial_output_file = None
        if output_file is not None:
            folder, name = os.path.split(os.path.abspath(output_file))
            descriptor, self._partial_output_file = tempfile.mkstemp(
                dir=folder, prefix=f".{name}.", suffix=".partial"
            )
            # mkstemp's file is private (0600); F gets the mode a new file gets.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(descriptor, 0o666 & ~umask)
            self._output_file = os.fdopen(descriptor, "w")

    @functools.wraps(run)
    def run_then_move_the_output(self):
        try:
            run(self)
        except BaseException:
            if self._partial_output_file is not None:
                self._output_file.close()
                os.remove(self._partial_output_file)
            raise
        if self._partial_output_file is not None:
            os.replace(self._partial_output_file, self._final_output_file)

    manager.__init__ = init_writing_beside_the_output
    manager.run = run_then_move_the_output


def _predict_reads_text_lines() -> bool:
    return _allennlp_2_10_1() and not _is_marked(predict_command._PredictManager._get_json_data)


@patch("AllenNLP 2.10.1", needed=_predict_reads_text_lines)
def let_predictors_read_their_whole_input() -> None:
    """
    `allennlp predict` reads its input file as text and hands a predictor one non-blank line at a
    time: bytes that are not UTF-8 raise a bare `UnicodeDecodeError` from inside the loop (ending
    the run, the lines before it unwritten), line numbers skip blank lines, and a predictor never
    learns that the input ended (a multi-line JSON value left open is lost silently). A predictor
    that defines `read_json_input(raw_lines, source)` gets the undecoded lines of the whole input
    instead, and `report_input(source)` once all of it is predicted; other predictors are read as
    before.
    """
    manager = predict_command._PredictManager
    get_json_data, run = manager._get_json_data, manager.run

    @_mark
    @functools.wraps(get_json_data)
    def get_json_data_from_predictor(self):
        if not hasattr(self._predictor, "read_json_input"):
            yield from get_json_data(self)
            return
        if self._input_file == "-":
            yield from self._predictor.read_json_input(sys.stdin.buffer, "-")
            return
        with open_compressed(cached_path(self._input_file), "rb", encoding=None) as file_input:
            yield from self._predictor.read_json_input(file_input, self._input_file)

    @functools.wraps(run)
    def run_and_report(self):
        run(self)
        if self._dataset_reader is None and hasattr(self._predictor, "report_input"):
            self._predictor.report_input(self._input_file)

    manager._get_json_data = get_json_data_from_predictor
    manager.run = run_and_report


def check_cuda_device(cuda_device: int) -> None:
    """
    Refuses a `--cuda-device` that this machine does not have, in the words of the option. AllenNLP
    2.10.1's `check_for_gpu` tells the user to override `trainer.cuda_device`, a training setting
    (`allennlp predict`), and a command that loads the model onto the device first fails in torch
    with "Found no NVIDIA driver on your system" (`allennlp evaluate`, `allennlp hint-compile`).
    """
    available = torch.cuda.device_count()
    if cuda_device < available:
        return
    having = (
        "this machine has no CUDA device"
        if available == 0
        else f"this machine has {available} CUDA devices, 0 to {available - 1}"
    )
    raise ConfigurationError(
        f"--cuda-device {cuda_device}: {having}; --cuda-device -1 (the default) runs on the CPU."
    )


def _predict_loads_the_model_first() -> bool:
    return _allennlp_2_10_1() and not _is_marked(predict_command._get_predictor)


@patch("AllenNLP 2.10.1", needed=_predict_loads_the_model_first)
def check_predict_arguments_before_loading_the_model() -> None:
    """
    AllenNLP 2.10.1's `allennlp predict` loads the model before it uses its other arguments, and
    then `--batch-size 0` writes no line and exits 0 (`lazy_groups_of` makes no group of size 0),
    a negative batch size ends in a raw `islice` ValueError, `--cuda-device 0` without CUDA is
    refused with advice to override `trainer.cuda_device`, an input file that is a directory ends
    in a raw `IsADirectoryError`, and an existing `--output-file` is overwritten without a word.
    These are checked first (`_predict` calls `_get_predictor(args)` before anything else), and an
    overwritten output file is logged.
    """
    get_predictor = predict_command._get_predictor

    @_mark
    @functools.wraps(get_predictor)
    def get_predictor_after_checking_the_arguments(args):
        if args.batch_size < 1:
            raise ConfigurationError(f"--batch-size must be at least 1, not {args.batch_size}.")
        check_cuda_device(args.cuda_device)
        if not args.use_dataset_reader and os.path.isdir(args.input_file):
            raise ConfigurationError(
                f"{args.input_file} is a directory: `allennlp predict` reads one input file (e.g. "
                "JSON lines, or an SNI task file), or with --use-dataset-reader what the archive's "
                "dataset reader reads (e.g. a directory of SNI task files)."
            )
        if args.output_file is not None and os.path.isdir(args.output_file):
            raise ConfigurationError(f"--output-file {args.output_file} is a directory.")
        if args.output_file is not None and os.path.exists(args.output_file):
            logger.warning("Overwriting %s (the --output-file exists).", args.output_file)
        return get_predictor(args)

    predict_command._get_predictor = get_predictor_after_checking_the_arguments


def _evaluate_loads_the_model_first() -> bool:
    return _allennlp_2_10_1() and not _is_marked(evaluate_command.evaluate_from_archive)


@patch("AllenNLP 2.10.1", needed=_evaluate_loads_the_model_first)
def check_evaluate_device_before_loading_the_model() -> None:
    """
    AllenNLP 2.10.1's `allennlp evaluate --cuda-device 0` on a machine without CUDA loads the
    archive onto the device first and ends in torch's raw `RuntimeError: Found no NVIDIA driver`,
    and `--batch-size 0` is taken for "not given" (the archive's batch size is used without a
    word); the device and the batch size are checked before `evaluate_from_archive` loads
    anything.
    """
    evaluate_from_archive = evaluate_command.evaluate_from_archive
    signature = inspect.signature(evaluate_from_archive)

    @_mark
    @functools.wraps(evaluate_from_archive)
    def evaluate_from_archive_after_checking_the_device(*args, **kwargs):
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        batch_size = arguments.arguments["batch_size"]
        if batch_size is not None and batch_size < 1:
            raise ConfigurationError(
                f"--batch-size must be at least 1, not {batch_size} (leave it out to use the "
                "archive's validation_data_loader batch size)."
            )
        check_cuda_device(arguments.arguments["cuda_device"])
        return evaluate_from_archive(*args, **kwargs)

    evaluate_command.evaluate_from_archive = evaluate_from_archive_after_checking_the_device


def _evaluation_predictions_are_tensors() -> bool:
    return _allennlp_2_10_1() and not _is_marked(evaluate_command.load_archive)


@patch("AllenNLP 2.10.1", needed=_evaluation_predictions_are_tensors)
def write_readable_evaluation_predictions() -> None:
    """
    `allennlp evaluate --predictions-output-file` writes AllenNLP's default serializer's lines:
    one per batch, of the model's raw output tensors (token ids), unless the config names a
    serializer. For this plugin's models (whose predictor is `hint_instruction`) an archive whose
    config names none now gets `per_instance`, one readable line per instance
    (`hint_allennlp/evaluation/per_instance_serializer.py`); a serializer named in the config or
    in `--overrides` is kept.
    """
    load = evaluate_command.load_archive

    @_mark
    @functools.wraps(load)
    def load_archive_with_readable_predictions(*args, **kwargs):
        archive = load(*args, **kwargs)
        if getattr(archive.model, "default_predictor", None) == "hint_instruction":
            evaluation = archive.config.params.setdefault("evaluation", {})
            evaluation.setdefault("batch_serializer", {"type": "per_instance"})
        return archive

    evaluate_command.load_archive = load_archive_with_readable_predictions


# Its own mark: `train_model` is wrapped by two patches.
TRAINER_KEYS_CHECKED = "_hint_trainer_keys_checked"


def _trainer_ignores_unknown_keys() -> bool:
    from allennlp.commands import train

    takes_any_key = any(
        parameter.kind is parameter.VAR_KEYWORD
        for parameter in inspect.signature(
            GradientDescentTrainer.from_partial_objects
        ).parameters.values()
    )
    return takes_any_key and not getattr(train.train_model, TRAINER_KEYS_CHECKED, False)


@patch(
    "AllenNLP 2.10.1 (GradientDescentTrainer takes **kwargs)", needed=_trainer_ignores_unknown_keys
)
def refuse_trainer_keys_the_trainer_would_ignore() -> None:
    """
    AllenNLP's `GradientDescentTrainer` takes `**kwargs` (to accept the old name
    `run_sanity_checks`) and ignores whatever else it gets, so a misspelled key such as
    `trainer.num_epoch` trains with the default instead, without a word. `allennlp train` (any
    `train_model` call) now refuses a key of that trainer's config that its constructor does not
    take, naming the key and the nearest known ones, before anything is created or read. A
    `num_gradient_accumulation_steps` below 1, which the trainer divides by (a bare
    ZeroDivisionError once the data is read), is refused then too, and so is a reader
    `instruction_format` that this plugin's model refuses (`check_instruction_formats`).
    """
    from allennlp.commands import train

    train_model = train.train_model

    @functools.wraps(train_model)
    def train_model_with_known_trainer_keys(params, *args, **kwargs):
        trainer_config = params.as_dict(quiet=True).get("trainer", {})
        refuse_unknown_trainer_keys(trainer_config)
        check_gradient_accumulation(trainer_config)
        # The plugin's models, imported by now (this runs when `allennlp train` does).
        from hint_allennlp.models.instruction_model import check_instruction_formats

        check_instruction_formats(params.as_dict(quiet=True))
        return train_model(params, *args, **kwargs)

    setattr(train_model_with_known_trainer_keys, TRAINER_KEYS_CHECKED, True)
    train.train_model = train_model_with_known_trainer_keys


def check_gradient_accumulation(trainer_config: Dict[str, Any]) -> None:
    """Refuses a `trainer.num_gradient_accumulation_steps` that is not a whole number >= 1."""
    steps = trainer_config.get("num_gradient_accumulation_steps", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigurationError(
            f"trainer.num_gradient_accumulation_steps must be a whole number >= 1, not {steps!r} "
            "(1: one batch per optimizer step; training_configs/hint.libsonnet sets it from "
            "examples_per_step / (batch_size x devices x nodes))."
        )


def refuse_unknown_trainer_keys(trainer_config: Dict[str, Any]) -> None:
    """
    Raises `ConfigurationError` for keys of a trainer built by `GradientDescentTrainer`'s
    `from_partial_objects` (the default `gradient_descent` and its subclasses) that it does not
    take; other trainers refuse unknown keys themselves or take them on purpose.
    """
    trainer_class, constructor_name = Trainer.resolve_class_name(
        trainer_config.get("type", Trainer.default_implementation)
    )
    constructor = getattr(trainer_class, constructor_name or "__init__")
    if (
        getattr(constructor, "__func__", None)
        is not GradientDescentTrainer.from_partial_objects.__func__
    ):
        return
    known = {
        name
        for name, parameter in infer_method_params(trainer_class, constructor).items()
        if parameter.kind is not parameter.VAR_KEYWORD and name != "self"
    } | {"type", "run_sanity_checks"}  # the old name that the trainer's **kwargs are for
    unknown = sorted(set(trainer_config) - known)
    if unknown:
        suggestions = "; ".join(
            f"{key!r}: did you mean {' or '.join(map(repr, nearest))}?"
            for key in unknown
            if (nearest := difflib.get_close_matches(key, sorted(known), n=2))
        )
        raise ConfigurationError(
            f"Unknown trainer key(s) {unknown}"
            + (f" ({suggestions})" if suggestions else "")
            + f": {trainer_class.__name__} takes **kwargs and would ignore them."
        )


apply_all()
