"""
Makes the standard AllenNLP 2.10.1 pieces work on the stack this plugin supports (Python 3.11,
torch 2.x, transformers 4.46-4.49). AllenNLP's last release predates these versions; each fix below
names the break it repairs and is tested in `tests/compat_test.py`. One more makes `allennlp
predict` report faults in this plugin's input instead of losing lines, and one makes `allennlp
train` refuse trainer keys that AllenNLP's trainer would ignore. Importing `hint_allennlp` applies
them all, once.
"""

import difflib
import functools
import logging
import sys
from typing import Any, Dict

from allennlp.commands import predict as predict_command
from allennlp.common import cached_transformers
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path, open_compressed
from allennlp.common.from_params import infer_method_params
from allennlp.training import GradientDescentTrainer, Trainer
from transformers.generation.utils import GenerationMixin

logger = logging.getLogger(__name__)


def _drop_add_special_tokens_kwarg() -> None:
    """
    `PretrainedTransformerTokenizer` (and through it `PretrainedTransformerIndexer`) asks
    `cached_transformers.get_tokenizer(name, add_special_tokens=False, ...)`.
    Since transformers 4.42 a tokenizer refuses init kwargs named like its methods
    ("add_special_tokens conflicts with the method add_special_tokens in T5Tokenizer"). The kwarg
    never changed how the tokenizer is built (AllenNLP passes `add_special_tokens` per call), so it
    is dropped before it reaches HF.
    """
    get_tokenizer = cached_transformers.get_tokenizer
    if getattr(get_tokenizer, "_hint_compat", False):
        return

    @functools.wraps(get_tokenizer)
    def get_tokenizer_without_method_kwargs(model_name: str, **kwargs):
        kwargs.pop("add_special_tokens", None)
        return get_tokenizer(model_name, **kwargs)

    get_tokenizer_without_method_kwargs._hint_compat = True  # type: ignore[attr-defined]
    cached_transformers.get_tokenizer = get_tokenizer_without_method_kwargs


def _keep_encoder_mask_in_generate() -> None:
    """
    transformers 4.49's `GenerationMixin.prepare_inputs_for_generation` takes the encoder's
    `attention_mask` as a parameter and, for encoder-decoder models, never passes it on: `generate`
    on a padded batch lets the decoder cross-attend to padding, so an example's output depends on
    its batch (huggingface/transformers#36293, fixed in 4.50, which AllenNLP cannot import). The
    mask is put back when the model inputs lack it; on versions without the bug this changes
    nothing.
    """
    prepare_inputs = GenerationMixin.prepare_inputs_for_generation
    if getattr(prepare_inputs, "_hint_compat", False):
        return

    @functools.wraps(prepare_inputs)
    def prepare_inputs_with_encoder_mask(self, *args, attention_mask=None, **kwargs):
        model_inputs = prepare_inputs(self, *args, attention_mask=attention_mask, **kwargs)
        if self.config.is_encoder_decoder and attention_mask is not None:
            model_inputs.setdefault("attention_mask", attention_mask)
        return model_inputs

    prepare_inputs_with_encoder_mask._hint_compat = True  # type: ignore[attr-defined]
    GenerationMixin.prepare_inputs_for_generation = prepare_inputs_with_encoder_mask


def _archive_on_the_primary_node_only() -> None:
    """
    `allennlp train --node-rank 1` (any node but the primary, node 0) trains, then archives
    `best.th` from its own serialization directory, which only the primary writes: the run ends in
    `RuntimeError: weights file '.../best.th' does not exist` (or, with a directory shared by the
    nodes, races node 0 writing the same `model.tar.gz`). The other nodes now leave the archive to
    node 0.
    """
    from allennlp.commands import train

    train_model = train.train_model
    if getattr(train_model, "_hint_compat", False):
        return

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

    train_model_archiving_on_node_0._hint_compat = True  # type: ignore[attr-defined]
    train.train_model = train_model_archiving_on_node_0


def _let_predictors_read_their_whole_input() -> None:
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
    if getattr(manager._get_json_data, "_hint_compat", False):
        return
    get_json_data, run = manager._get_json_data, manager.run

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

    get_json_data_from_predictor._hint_compat = True  # type: ignore[attr-defined]
    manager._get_json_data = get_json_data_from_predictor
    manager.run = run_and_report


def _refuse_unknown_trainer_keys() -> None:
    """
    AllenNLP's `GradientDescentTrainer` takes `**kwargs` (to accept the old name
    `run_sanity_checks`) and ignores whatever else it gets, so a misspelled key such as
    `trainer.num_epoch` trains with the default instead, without a word. `allennlp train` (any
    `train_model` call) now refuses a key of that trainer's config that its constructor does not
    take, naming the key and the nearest known ones, before anything is created or read.
    """
    from allennlp.commands import train

    train_model = train.train_model
    if getattr(train_model, "_hint_trainer_keys_checked", False):
        return

    @functools.wraps(train_model)
    def train_model_with_known_trainer_keys(params, *args, **kwargs):
        refuse_unknown_trainer_keys(params.as_dict(quiet=True).get("trainer", {}))
        return train_model(params, *args, **kwargs)

    train_model_with_known_trainer_keys._hint_trainer_keys_checked = True  # type: ignore[attr-defined]
    train.train_model = train_model_with_known_trainer_keys


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


def apply_all() -> None:
    _drop_add_special_tokens_kwarg()
    _keep_encoder_mask_in_generate()
    _archive_on_the_primary_node_only()
    _let_predictors_read_their_whole_input()
    _refuse_unknown_trainer_keys()


apply_all()
