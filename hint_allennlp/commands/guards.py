"""
What this plugin adds to AllenNLP's own commands (`allennlp train / predict / evaluate`), applied by
the plugin's `__init__`: `allennlp predict` lets a predictor read its whole input and writes its
output file only once complete; `allennlp predict` and `allennlp evaluate` check their arguments
before the model loads; `allennlp evaluate` writes readable prediction lines for this plugin's
models; `allennlp train` refuses trainer keys (and values) that AllenNLP's trainer would ignore (or
divide by). Each guard wraps a function of AllenNLP 2.10.1's commands, so it is a patch
(`hint_allennlp.compat.patches`) for that version, tested in `tests/commands/guards_test.py`.
Repairs of the dependencies themselves are in `hint_allennlp.compat`.
"""

import difflib
import functools
import inspect
import logging
import os
import tempfile
from typing import Any, Dict

import torch
from allennlp.commands import evaluate as evaluate_command
from allennlp.commands import predict as predict_command
from allennlp.common.checks import ConfigurationError
from allennlp.common.from_params import infer_method_params
from allennlp.training import GradientDescentTrainer, Trainer

from hint_allennlp.compat import patches
from hint_allennlp.predictors.json_input import open_input

logger = logging.getLogger(__name__)

GUARDS = patches.Patches()


def predict_writes_its_output_in_place() -> bool:
    return patches.allennlp_2_10_1() and not patches.is_marked(
        predict_command._PredictManager.__init__
    )


@GUARDS.patch("AllenNLP 2.10.1", needed=predict_writes_its_output_in_place)
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

    @patches.mark
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


def predict_reads_text_lines() -> bool:
    return patches.allennlp_2_10_1() and not patches.is_marked(
        predict_command._PredictManager._get_json_data
    )


@GUARDS.patch("AllenNLP 2.10.1", needed=predict_reads_text_lines)
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

    @patches.mark
    @functools.wraps(get_json_data)
    def get_json_data_from_predictor(self):
        if not hasattr(self._predictor, "read_json_input"):
            yield from get_json_data(self)
            return
        with open_input(self._input_file) as raw_lines:
            yield from self._predictor.read_json_input(raw_lines, self._input_file)

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


def predict_loads_the_model_first() -> bool:
    return patches.allennlp_2_10_1() and not patches.is_marked(predict_command._get_predictor)


@GUARDS.patch("AllenNLP 2.10.1", needed=predict_loads_the_model_first)
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

    @patches.mark
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


def evaluate_loads_the_model_first() -> bool:
    return patches.allennlp_2_10_1() and not patches.is_marked(
        evaluate_command.evaluate_from_archive
    )


@GUARDS.patch("AllenNLP 2.10.1", needed=evaluate_loads_the_model_first)
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

    @patches.mark
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


def evaluation_predictions_are_tensors() -> bool:
    return patches.allennlp_2_10_1() and not patches.is_marked(evaluate_command.load_archive)


@GUARDS.patch("AllenNLP 2.10.1", needed=evaluation_predictions_are_tensors)
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

    @patches.mark
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


def trainer_ignores_unknown_keys() -> bool:
    from allennlp.commands import train

    takes_any_key = any(
        parameter.kind is parameter.VAR_KEYWORD
        for parameter in inspect.signature(
            GradientDescentTrainer.from_partial_objects
        ).parameters.values()
    )
    return takes_any_key and not getattr(train.train_model, TRAINER_KEYS_CHECKED, False)


@GUARDS.patch(
    "AllenNLP 2.10.1 (GradientDescentTrainer takes **kwargs)", needed=trainer_ignores_unknown_keys
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
