"""
What every instruction model of this package shares, once: the output dict, the metrics and when
they are updated, rank classification of answer choices, the reader/model contract check, and
what is kept per instruction (the task cache, `compile_instruction`). `hint_seq2seq` (T5, HINT and
the paper's baselines) and `instruction_causal_lm` (decoder-only baselines) each hold only what
differs: how they encode, score and generate.
"""

import re
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common import Lazy, Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.from_params import infer_method_params
from allennlp.data import DatasetReader, TextFieldTensors, Vocabulary
from allennlp.models import Model
from allennlp.nn import InitializerApplicator, RegularizerApplicator
from allennlp.nn.initializers import PretrainedModelInitializer
from allennlp.nn.parallel import DdpAccelerator
from allennlp.nn.util import get_text_field_mask, get_token_ids_from_text_field_tensors
from allennlp.training.metrics import Metric
from torch import nn
from transformers import AutoConfig, PreTrainedModel

from hint_allennlp.data.sequence_layout import check_batch_layout
from hint_allennlp.metrics import InferenceFlops, RankClassificationAccuracy
from hint_allennlp.models.renamed_keys import rename_deprecated_keys
from hint_allennlp.modules.backbone import (
    config_source,
    load_backbone,
    load_tokenizer,
    loading_archive,
    save_backbone,
    saved_model_name,
)
from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.hypernetwork import Hypernetwork
from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.inserted.injection import inject_task_modules
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.task_state import ActiveTaskState, TaskState
from hint_allennlp.modules.large_models.mixed_precision import check_mixed_precision
from hint_allennlp.modules.serving.task_cache import TaskCache, instruction_key

# The first weight of `load_state_dict`'s size mismatch message, with both shapes.
SIZE_MISMATCH = re.compile(
    r"size mismatch for (?P<name>\S+): copying a param with shape "
    r"torch.Size\((?P<archived>\[[^\]]*\])\) from checkpoint, "
    r"the shape in current model is torch.Size\((?P<built>\[[^\]]*\])\)"
)


class InstructionModel(Model):
    """
    Not registered itself: the base of `hint_seq2seq` and `instruction_causal_lm`.

    Output dict (the contract every model keeps): `loss` when a target is given; in evaluation
    also `predictions`, token ids [B, L] (generated, or for instances with answer choices the
    chosen choice's, padded) and `predicted_text`; for answer choices also `choice_scores` [B, C]
    (the sum of each choice's token log-probabilities, -inf for padding choices) and
    `predicted_choice`, the chosen index [B]. Metrics are updated only in evaluation: those of
    `metric` (RougeL and exact match by default) per task and category, `accuracy` for answer
    choices, and the analytic `flops` of what was evaluated with `relative_flops`
    (`hint_allennlp.metrics.InferenceFlops`); in training `get_metrics` is empty.

    A subclass sets `sequence_layout` (`hint_allennlp/data/sequence_layout.py`) and the reader
    formats it refuses (`refused_instruction_formats`), gives
    `instruction_handling` and `compiles_instructions`, makes what it keeps per instruction in
    `_make_task_parameters`, builds its backbone with `_load_backbone`, and calls `_track_flops`
    once its parameter counts are known.

    # Parameters

    vocab : `Vocabulary`
    model_name : `str`
        The backbone, by hub name or local path (`_load_backbone` loads it).
    metric : `Metric`, optional (default = `instruction_metrics`)
        Called in evaluation with the predicted texts, the references, tasks and categories.
    task_cache_size : `int`
        In evaluation, what the model made of this many recent instructions is kept
        (`TaskCache`), so a task's instruction is processed once, not once per batch (0
        disables this).
    mixed_precision : `str`, optional
        `"bf16"` or `None` (checked here; `modules/large_models/mixed_precision.py`).
    regularizer, serialization_dir, ddp_accelerator
        As in AllenNLP's `Model`.
    """

    sequence_layout: str
    # Reader `instruction_format`s (recorded in each instance's metadata) that the model refuses,
    # each with the reason and what to use instead.
    refused_instruction_formats: Dict[str, str] = {}

    def __init__(
        self,
        vocab: Vocabulary,
        model_name: str,
        metric: Optional[Metric],
        task_cache_size: int,
        mixed_precision: Optional[str],
        regularizer: Optional[RegularizerApplicator] = None,
        serialization_dir: Optional[str] = None,
        ddp_accelerator: Optional[DdpAccelerator] = None,
    ) -> None:
        super().__init__(vocab, regularizer, serialization_dir, ddp_accelerator)
        check_mixed_precision(mixed_precision)
        self.mixed_precision = mixed_precision
        self.model_name = model_name
        self.task_cache = TaskCache(task_cache_size)
        self._metric = metric if metric is not None else Metric.by_name("instruction_metrics")()
        self._choice_accuracy = RankClassificationAccuracy()
        self._has_choices = False

    @classmethod
    def from_params(cls, params: Params, **extras) -> "InstructionModel":
        # Old names of constructor arguments (`renamed_keys.py`), also in archives' config.json.
        rename_deprecated_keys(params, cls.__name__)
        return super().from_params(params, **extras)

    @classmethod
    def _load(cls, config, serialization_dir, weights_file=None, cuda_device=-1) -> "Model":
        # The archive's weights follow: the backbone is built from the archive's copy of its config.
        # Read first: building the model consumes its config.
        model_name = config.as_dict(quiet=True).get("model", {}).get("model_name")
        with loading_archive():
            try:
                return super()._load(config, serialization_dir, weights_file, cuda_device)
            except RuntimeError as error:
                mismatch = SIZE_MISMATCH.search(str(error))
                if mismatch is None:
                    raise
                trained_with = saved_model_name(serialization_dir)
                raise ConfigurationError(
                    "The archive's weights are for a backbone of another "
                    f"shape than model_name {model_name!r} builds: {mismatch['name']} is "
                    f"{mismatch['archived']} in the archive and {mismatch['built']} "
                    f"in the model ({str(error).count('size mismatch for')} weights differ). "
                    f"The archive was trained with model_name {trained_with!r}: drop the "
                    "model_name override (--overrides), or give a checkpoint of that shape."
                ) from None

    def _check_backbone_kind(self, serialization_dir: Optional[str]) -> None:
        """
        Refuses a `model_name` of the other kind than the model's `sequence_layout` reads: an
        encoder-decoder (T5) for `instruction_causal_lm`, a decoder-only LM for `hint_seq2seq`.
        """
        config = AutoConfig.from_pretrained(config_source(self.model_name, serialization_dir))
        if config.is_encoder_decoder == (self.sequence_layout == "encoder_decoder"):
            return
        if config.is_encoder_decoder:
            raise ConfigurationError(
                f"model_name {self.model_name!r} is an encoder-decoder model "
                f"({config.model_type}): use the `hint_seq2seq` model for it"
            )
        raise ConfigurationError(
            f"model_name {self.model_name!r} is a decoder-only model ({config.model_type}), and "
            f"{type(self).__name__} (the HINT, Tk-Instruct and No-Instruct recipes) needs an "
            "encoder-decoder backbone (T5). For a causal LM use the decoder-only recipe: model "
            "`instruction_causal_lm` with the reader's instruction_format 'tk_instruct_prefix' "
            "and sequence_layout 'decoder_only' (training_configs/sni/def_2pos/gpt2_xl.jsonnet, "
            "whose `backbone` setting takes the checkpoint)."
        )

    def _initialize(self, initializer: InitializerApplicator) -> None:
        """
        Applies `initializer`; weights of another model given to its `pretrained` initializer
        (the configs' `pretrained_weights`) are refused in words, not with the KeyError of the
        first weight they lack.
        """
        try:
            initializer(self)
        except KeyError as missing:
            loaded = [
                name
                for _, part in initializer._initializers
                if isinstance(part, PretrainedModelInitializer)
                for name in list(part.weights)[:2]
            ]
            raise ConfigurationError(
                f"The `pretrained` initializer's weights_file_path (the configs' "
                f"`pretrained_weights`) has no {missing.args[0]!r}, a weight of this "
                f"{type(self).__name__}: its weights (such as {loaded}) are another model's. Give "
                f"the weights of a run of this same model type and backbone ({type(self).__name__} "
                f"on {self.model_name!r}), e.g. its model.tar.gz or best.th."
            ) from None

    def _load_backbone(
        self, model_class: type, serialization_dir: Optional[str], **config_overrides
    ) -> PreTrainedModel:
        """
        `model_name`'s backbone, and its tokenizer as `self.tokenizer`: from the archive's copy of
        their files when AllenNLP loads an archive (`_load`), else from `model_name`, the copy then
        saved to the run's `serialization_dir` (`hint_allennlp/modules/backbone.py`).
        """
        backbone = load_backbone(
            model_class, self.model_name, serialization_dir, **config_overrides
        )
        self.tokenizer = load_tokenizer(self.model_name, serialization_dir)
        save_backbone(self.model_name, backbone, self.tokenizer, serialization_dir)
        return backbone

    def _build_hypernetwork(
        self,
        backbone: PreTrainedModel,
        instruction_encoder: nn.Module,
        parameter_generator: Optional[Lazy[ParameterGenerator]],
        peft: Optional[InsertedModulesConfig],
        separate_instruction_encoder: bool,
        keep_instruction_states: bool,
        **generator_inputs,
    ) -> Optional[ParameterGenerator]:
        """
        What both models set up for generated modules: `peft`, `active_task_state` (the switch the
        injected layers read), the generator (built for `backbone`'s `BackboneShape`, with
        `generator_inputs` for generators that take them), the `hypernetwork` that encodes the
        instruction with `instruction_encoder` (or a copy of it), and the modules injected into
        `backbone`. `keep_instruction_states`: T5's instruction fusion, whose cross-attentions read
        the encoded instruction. Returns the generator (None without one).
        """
        self.peft = peft or InsertedModulesConfig()
        self.active_task_state = ActiveTaskState()
        generator = (
            parameter_generator.construct(
                shape=BackboneShape.from_config(backbone.config), peft=self.peft, **generator_inputs
            )
            if parameter_generator is not None
            else None
        )
        if (
            separate_instruction_encoder
            and generator is not None
            and not generator.pretrained_instruction_encoder
            and not backbone.config.is_encoder_decoder
        ):
            raise ConfigurationError(
                "parameter_generator.pretrained_instruction_encoder is false: a separate "
                "instruction encoder of new layers is built for T5's encoder, and "
                f"{backbone.config.model_type} is decoder-only. Set "
                "`parameter_generator.pretrained_instruction_encoder: true` (a copy of the "
                "backbone) or `separate_instruction_encoder: false`."
            )
        self.hypernetwork: Optional[Hypernetwork] = None
        if generator is not None or keep_instruction_states:
            # Built before injection, so that a separate instruction encoder is a plain copy.
            self.hypernetwork = Hypernetwork(
                instruction_encoder,
                self.active_task_state,
                generator,
                separate_encoder=separate_instruction_encoder,
                keep_instruction_states=keep_instruction_states,
                tokenizer=self.tokenizer,
            )
        elif separate_instruction_encoder:
            raise ConfigurationError(
                "separate_instruction_encoder needs a parameter_generator"
                + (" or instruction_fusion" if backbone.config.is_encoder_decoder else "")
            )
        if generator is not None or keep_instruction_states:
            inject_task_modules(
                backbone,
                self.peft if generator is not None else None,
                self.active_task_state,
                keep_instruction_states,
            )
        return generator

    @property
    def instruction_handling(self) -> str:
        """How the instruction reaches the model, in the terms of `hint_allennlp.cost.flops`."""
        raise NotImplementedError

    @property
    def compiles_instructions(self) -> bool:
        """
        Whether the model processes an instruction once and keeps the result (what
        `compile_instruction` gives and `allennlp hint-compile` saves).
        """
        raise NotImplementedError

    def _make_task_parameters(
        self, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor
    ) -> TaskState:
        """
        What the model keeps for distinct instructions [U, t] (padded on the right), one row each.
        """
        raise NotImplementedError

    def _track_flops(self, parameter_counts) -> None:
        """The model's weights by what they process, for its `flops` metric; call it once."""
        self.parameter_counts = parameter_counts
        self._flops = InferenceFlops(
            parameter_counts, instruction_handling=self.instruction_handling
        )

    def _check_sequence_layout(self, metadata: Optional[List[Dict[str, Any]]]) -> None:
        check_batch_layout(self.sequence_layout, type(self).__name__, metadata)
        self._check_tokenizer(metadata)
        formats = {meta.get("instruction_format") for meta in metadata or []}
        for refused in sorted(formats & set(self.refused_instruction_formats)):
            raise ConfigurationError(
                f"{type(self).__name__} got instances read with the dataset reader's "
                f"instruction_format {refused!r}: {self.refused_instruction_formats[refused]}"
            )

    def _check_tokenizer(self, metadata: Optional[List[Dict[str, Any]]]) -> None:
        """Refuses token ids made by another tokenizer than the model's (its EOS or size differ)."""
        own = getattr(self, "tokenizer", None)
        read_with = next(
            (meta["tokenizer"] for meta in metadata or [] if "tokenizer" in meta), None
        )
        if own is None or read_with is None:
            return
        if (read_with["eos_token_id"], read_with["size"]) == (own.eos_token_id, len(own)):
            return
        raise ConfigurationError(
            f"{type(self).__name__} on {self.model_name!r} got token ids from another tokenizer: "
            f"the dataset reader's is {read_with['name']!r} (EOS id {read_with['eos_token_id']}, "
            f"{read_with['size']} tokens), the model's has EOS id {own.eos_token_id} and "
            f"{len(own)} tokens. Set the reader's model_name to the model's, {self.model_name!r} "
            "(or give it that model's tokenizer and token_indexers)."
        )

    # --- What is kept per instruction ---------------------------------------------------------

    def _task_parameters_per_example(self, instruction_tokens: TextFieldTensors) -> TaskState:
        """
        `_make_task_parameters` once per distinct instruction in the batch (in evaluation, only
        for instructions not in the task cache). When every example shares one instruction the
        result keeps batch size 1, to be broadcast; otherwise it is gathered per example.
        """
        modules, inverse = self._task_parameters_per_instruction(instruction_tokens)
        return modules if modules.batch_size == 1 else modules.index_select(inverse)

    def _task_parameters_per_instruction(
        self, instruction_tokens: TextFieldTensors
    ) -> Tuple[TaskState, torch.Tensor]:
        """
        `_make_task_parameters` once per distinct instruction in the batch, [U] (in evaluation,
        only for instructions not in the task cache), and each example's row there [B].
        """
        # [B, t], or chunks [B, C, c] (`modules/hypernetwork/instruction_chunks.py`)
        instruction_ids = get_token_ids_from_text_field_tensors(instruction_tokens)
        instruction_mask = instruction_token_mask(instruction_tokens)
        distinct_ids, inverse = torch.unique(instruction_ids, dim=0, return_inverse=True)
        batch_size, num_distinct = instruction_ids.size(0), distinct_ids.size(0)
        # The first example of each distinct instruction: [num_distinct]
        first = torch.full((num_distinct,), batch_size, dtype=torch.long, device=inverse.device)
        first = first.scatter_reduce(
            0, inverse, torch.arange(batch_size, device=inverse.device), reduce="amin"
        )
        modules = self._distinct_task_parameters(instruction_ids[first], instruction_mask[first])
        return modules, inverse

    def _distinct_task_parameters(
        self, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor
    ) -> TaskState:
        """
        What is kept for distinct instructions [U, t] (or chunks [U, C, c]), through the cache in
        evaluation.
        """
        if self.training or not self.task_cache.enabled:
            return self._make_task_parameters(instruction_ids, instruction_mask)
        keys = [_cache_key(ids, mask) for ids, mask in zip(instruction_ids, instruction_mask)]
        rows = {key: self.task_cache.get(key) for key in keys}
        missing = [index for index, key in enumerate(keys) if rows[key] is None]
        if missing:
            computed = self._make_task_parameters(
                instruction_ids[missing], instruction_mask[missing]
            )
            for position, index in enumerate(missing):
                row = computed.index_select(torch.tensor([position], device=instruction_ids.device))
                rows[keys[index]] = _to_keep(row)
                self.task_cache.put(keys[index], rows[keys[index]])
        return TaskState.concatenate([rows[key] for key in keys])

    def compile_instruction(self, instruction_tokens: TextFieldTensors) -> Tuple[str, TaskState]:
        """
        One instruction [1, t] (or [1, C, c] in chunks) -> its cache key and what the model keeps
        for it: what the task cache holds and `allennlp hint-compile` saves (batch size 1, no
        padding).
        """
        # [1, t], or chunks [1, C, c]
        instruction_ids = get_token_ids_from_text_field_tensors(instruction_tokens)
        instruction_mask = instruction_token_mask(instruction_tokens)
        if instruction_ids.size(0) != 1:
            raise ValueError(
                f"compile_instruction takes one instruction, got {instruction_ids.size(0)}"
            )
        with torch.no_grad():
            modules = self._make_task_parameters(instruction_ids, instruction_mask)
        return _cache_key(instruction_ids[0], instruction_mask[0]), _to_keep(modules)

    def train(self, mode: bool = True) -> "InstructionModel":
        # What the cache holds was made with the current weights; training changes them.
        if mode:
            self.task_cache.clear()
        return super().train(mode)

    # --- Targets and answer choices -----------------------------------------------------------

    @staticmethod
    def _labels(target_tokens: TextFieldTensors) -> torch.Tensor:
        """Target ids with pad positions set to -100, which the loss ignores: [..., o]."""
        target_ids = get_token_ids_from_text_field_tensors(target_tokens)
        target_mask = get_text_field_mask(target_tokens, num_wrapping_dims=target_ids.dim() - 2)
        return target_ids.masked_fill(~target_mask, -100)

    @staticmethod
    def _token_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """
        The log-probability of each label under `logits` [..., c, V] (any value at -100): [..., c].
        """
        return logits.log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)

    def _choice_output(
        self,
        answer_choices: TextFieldTensors,
        token_log_probs: torch.Tensor,
        metadata: Optional[List[Dict[str, Any]]],
    ) -> Dict[str, Any]:
        """
        Rank classification: each choice is scored by the sum of its tokens' log-probabilities
        (`token_log_probs` [B * C, c], one row per choice in order, each token's under the
        model) and the best one is predicted.
        """
        labels = self._labels(answer_choices)  # [B, C, c]
        batch_size, num_choices, _ = labels.shape
        token_mask = labels.view(batch_size * num_choices, -1) != -100  # [B * C, c]
        scores = (token_log_probs * token_mask).sum(-1).view(batch_size, num_choices)  # [B, C]
        # Padding choices (instances with fewer choices) have no tokens: never predicted.
        scores = scores.masked_fill(
            ~token_mask.view(batch_size, num_choices, -1).any(-1), float("-inf")
        )
        predicted_choice = scores.argmax(-1)  # [B]
        choice_ids = get_token_ids_from_text_field_tensors(answer_choices)  # [B, C, c]
        chosen_ids = choice_ids[
            torch.arange(batch_size, device=choice_ids.device), predicted_choice
        ]  # [B, c]
        # `predictions` are token ids as in generation; the index is `predicted_choice`.
        output: Dict[str, Any] = {
            "choice_scores": scores,
            "predicted_choice": predicted_choice,
            "predictions": chosen_ids,
        }
        if metadata is not None:
            output["predicted_text"] = [
                meta["answer_choices"][index]
                for meta, index in zip(metadata, predicted_choice.tolist())
            ]
        return output

    # --- Metrics ------------------------------------------------------------------------------

    def _update_metrics(
        self,
        output: Dict[str, Any],
        metadata: List[Dict[str, Any]],
        instruction_lengths: torch.Tensor,
        input_lengths: torch.Tensor,
        output_lengths: torch.Tensor,
    ) -> None:
        """
        Every metric is called on every evaluation batch, with empty lists if need be: under
        distributed evaluation each call gathers from all workers, so no worker may skip one.
        """
        tasks = [meta.get("task") or "unnamed_task" for meta in metadata]
        scored = [index for index, meta in enumerate(metadata) if meta.get("references")]
        self._metric(
            [output["predicted_text"][index] for index in scored],
            [metadata[index]["references"] for index in scored],
            tasks=[tasks[index] for index in scored],
            categories=[metadata[index].get("categories") or [] for index in scored],
        )
        if "choice_scores" in output:
            chosen = [
                index for index, meta in enumerate(metadata) if meta.get("gold_choice") is not None
            ]
            self._has_choices = True
            self._choice_accuracy(
                [output["predicted_choice"][index].item() for index in chosen],
                [metadata[index]["gold_choice"] for index in chosen],
                tasks=[tasks[index] for index in chosen],
                categories=[metadata[index].get("categories") or [] for index in chosen],
                prompt_groups=[metadata[index].get("prompt_groups") or [] for index in chosen],
            )
        self._flops(
            tasks, instruction_lengths.tolist(), input_lengths.tolist(), output_lengths.tolist()
        )

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        if self.training:
            # Nothing is measured in training: no zeros on the trainer's progress bar and logs.
            return {}
        metrics = dict(self._metric.get_metric(reset=reset))
        if self._has_choices:
            metrics.update(self._choice_accuracy.get_metric(reset=reset))
        metrics.update(self._flops.get_metric(reset=reset))
        return metrics


def check_instruction_formats(config: Dict[str, Any]) -> None:
    """
    Refuses, before anything is built (`allennlp train`), an experiment whose model refuses the
    `instruction_format` of its readers (`refused_instruction_formats`; given or by default),
    which the model would otherwise refuse only at its first batch.
    """
    model_type = config.get("model", {}).get("type")
    if model_type not in Model.list_available():
        return
    refused = getattr(Model.resolve_class_name(model_type)[0], "refused_instruction_formats", {})
    for key in ("dataset_reader", "validation_dataset_reader"):
        reader = config.get(key)
        if not refused or not isinstance(reader, dict):
            continue
        if reader.get("type") not in DatasetReader.list_available():
            continue
        reader_class = DatasetReader.resolve_class_name(reader["type"])[0]
        parameter = infer_method_params(reader_class, reader_class.__init__).get(
            "instruction_format"
        )
        if parameter is None:
            continue
        instruction_format = reader.get("instruction_format", parameter.default)
        if instruction_format in refused:
            raise ConfigurationError(
                f"{key}.instruction_format {instruction_format!r} (of reader type "
                f"{reader['type']!r}) with model type {model_type!r}: "
                + refused[instruction_format]
            )


def check_generation_settings(beam_size: int, max_decoding_steps: int) -> None:
    """Refuses generation settings that `generate` would fail on only once evaluation starts."""
    if beam_size < 1:
        raise ConfigurationError(
            f"The model's beam_size must be at least 1 (1: greedy decoding), not {beam_size}."
        )
    if max_decoding_steps < 1:
        raise ConfigurationError(
            "The model's max_decoding_steps (the most tokens generated per prediction) must be "
            f"at least 1, not {max_decoding_steps}."
        )


def instruction_token_mask(instruction_tokens: TextFieldTensors) -> torch.Tensor:
    """The mask of an instruction [B, t], or of an instruction in chunks [B, C, c]."""
    ids = get_token_ids_from_text_field_tensors(instruction_tokens)
    return get_text_field_mask(instruction_tokens, num_wrapping_dims=ids.dim() - 2)


def _cache_key(ids: torch.Tensor, mask: torch.Tensor) -> str:
    """
    The task cache's key of one instruction [t], or of one in chunks [C, c]: each chunk's tokens
    followed by -1, which no token id is, so that where the chunks end is part of the key.
    """
    if ids.dim() == 1:
        return instruction_key(ids[mask.bool()])
    separator = ids.new_full((1,), -1)
    return instruction_key(
        torch.cat(
            [part for chunk, real in zip(ids, mask.bool()) for part in (chunk[real], separator)]
        )
    )


def _to_keep(modules: TaskState) -> TaskState:
    """One instruction's modules as they are kept across batches: without gradient or padding."""
    return modules.map(torch.Tensor.detach).without_instruction_padding()
