import logging
from typing import Any, Dict, List, Optional

import torch
from allennlp.common import Lazy
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models import Model
from allennlp.nn import InitializerApplicator, RegularizerApplicator
from allennlp.nn.parallel import DdpAccelerator
from allennlp.nn.util import get_text_field_mask, get_token_ids_from_text_field_tensors
from allennlp.training.metrics import Metric
from transformers import T5ForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from hint_allennlp.cost.flops import ParameterCounts, instruction_handling
from hint_allennlp.models.instruction_model import (
    InstructionModel,
    check_generation_settings,
    instruction_token_mask,
)
from hint_allennlp.models.paper_variants import labels_by_instruction_format
from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.hypernetwork.train_only_hypernetwork import (
    freeze_all_but_hypernetwork,
)
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.task_state import TaskState
from hint_allennlp.modules.large_models.checkpointing import (
    enable_gradient_checkpointing,
    refuse_hf_gradient_checkpointing,
    t5_stacks,
)
from hint_allennlp.modules.large_models.mixed_precision import (
    in_mixed_precision,
)

logger = logging.getLogger(__name__)

# The checkpoints whose layers are T5's, which `T5ForConditionalGeneration` runs with their weights
# as they are (mT5 is T5 v1.1's architecture with a multilingual vocabulary; HF gives it copies of
# T5's classes, which the module injection and checkpointing do not know). UMT5's per-layer
# position biases are not T5's.
T5_MODEL_TYPES = ("t5", "mt5")


@Model.register("hint_seq2seq")
class HintSeq2Seq(InstructionModel):
    """
    HINT (Ivison et al., 2023) on a HuggingFace T5, and every baseline of the paper as a setting of
    the same model:

    1. the hypernetwork encodes the instruction (`instruction_tokens`) once per distinct instruction
       in the batch and generates adapters / prefixes / LoRA from it;
    2. the T5 encoder runs on the instance input (`source_tokens`) alone, with those modules;
    3. instruction fusion: the decoder cross-attends over `[encoded instruction ; encoded input]`,
       the instruction projected to keys and values once per batch by each cross-attention
       (`modules/inserted/instruction_fusion.py`);
    4. the T5 decoder runs with its own generated modules.

    The paper's models (HINT and its baselines) are settings of this model with a reader
    `instruction_format` each: `hint_allennlp/models/paper_variants.py` lists them. A model that
    reads no instruction (Tk-Instruct, Tk-Instruct + PEFT, No-Instruct) refuses
    `instruction_tokens`, which would otherwise be dropped without a word.

    Output dict and metrics: `InstructionModel`'s; `relative_flops` is against Tk-Instruct on the
    same examples (`hint_allennlp.cost.flops`; 1 by construction for models that get the
    instruction inside their input, whose instruction length they cannot see). It reads sequences
    in the `encoder_decoder` layout (`hint_allennlp/data/sequence_layout.py`).

    # Parameters

    vocab : `Vocabulary`
        Unused (the T5 vocabulary is the checkpoint's), as in allennlp-models' T5.
    model_name : `str`
        A HuggingFace T5-family checkpoint, by hub name or local path (t5, T5 v1.1 / LM-adapt,
        flan-t5, mT5: `T5_MODEL_TYPES`), run by `T5ForConditionalGeneration`. A run keeps a copy
        of its config and tokenizer (`backbone/`), which the configs' archives carry: an archive
        loads without it (`hint_allennlp/modules/backbone.py`).
    parameter_generator : `Lazy[ParameterGenerator]`, optional (default = `None`)
        What generates the modules; `None` for no generated modules.
    peft : `InsertedModulesConfig`, optional (default = `InsertedModulesConfig()`)
        Which modules are generated and their sizes; ignored without a generator.
    instruction_fusion : `bool`, optional (default = `True`)
        Let the decoder attend to the encoded instruction as well as to the encoded input.
    separate_instruction_encoder : `bool`, optional (default = `False`)
        Encode instructions with an encoder of their own instead of the T5 encoder itself: a copy
        of it, or new layers where the generator's `pretrained_instruction_encoder` is False
        (Hypter's default, `modules/hypernetwork/hypernetwork.py`).
    train_only_hypernetwork : `bool`, optional (default = `False`)
        Freeze the underlying T5 (`requires_grad` off): only the generator and a separate
        instruction encoder train, as the authors' `gins/train_only_hnet.gin`
        (`modules/hypernetwork/train_only_hypernetwork.py`).
    dropout : `float`, optional (default = `None`)
        The dropout rate of T5 (its `dropout_rate`) and of the generator's attention, as the
        reference's single `dropout_rate`: 0.1 when finetuning, 0.0 in hypernetwork pretraining
        (`gins/pretrain.gin`). `None` keeps the checkpoint's (0.1 for T5 v1.1 LM-adapt).
    beam_size : `int`, optional (default = `1`)
        1 is greedy decoding.
    max_decoding_steps : `int`, optional (default = `64`)
        Maximum number of generated tokens.
    task_cache_size : `int`, optional (default = `16`)
        In evaluation, what the hypernetwork made for this many recent instructions is kept, so a
        task's instruction is processed once, not once per batch (0 disables this).
    metric : `Metric`, optional (default = `instruction_metrics`)
        Called in evaluation with the predicted texts, the references, tasks and categories.
    gradient_checkpointing : `bool`, optional (default = `False`)
        In training, keep only each T5 block's inputs and recompute the block in backward, with the
        generated modules of the forward pass (`modules/large_models/checkpointing.py`): every block
        of the encoder, the decoder and the instruction encoder. Same loss and gradients, less
        memory, about a third more compute. (HF's `model.t5.gradient_checkpointing_enable()` is
        refused: it would recompute without the generated modules.)
    mixed_precision : `str`, optional (default = `None`)
        `"bf16"`: training, evaluation and generation under bf16 autocast on the model's device,
        float32 weights, no loss scaling (`modules/large_models/mixed_precision.py`). None is
        float32. fp16 is refused (T5 v1.1 overflows it), and so is AllenNLP's `use_amp`, which is
        fp16.
    initializer : `InitializerApplicator`, optional
        Applied after the checkpoint is loaded (e.g. to re-initialise parts).
    regularizer : `RegularizerApplicator`, optional
        A penalty added to the training loss by AllenNLP's trainer; passed on to `Model`.
    serialization_dir : `str`, optional
        The run's directory, given by AllenNLP (the archive's extracted folder when it loads one);
        passed on to `Model`. Training saves the T5's config and tokenizer to `backbone/` there.
    ddp_accelerator : `DdpAccelerator`, optional
        Given by AllenNLP in distributed training; passed on to `Model`.
    """

    default_predictor = "hint_instruction"
    sequence_layout = "encoder_decoder"

    def __init__(
        self,
        vocab: Vocabulary,
        model_name: str,
        parameter_generator: Optional[Lazy[ParameterGenerator]] = None,
        peft: Optional[InsertedModulesConfig] = None,
        instruction_fusion: bool = True,
        separate_instruction_encoder: bool = False,
        train_only_hypernetwork: bool = False,
        dropout: Optional[float] = None,
        beam_size: int = 1,
        max_decoding_steps: int = 64,
        task_cache_size: int = 16,
        metric: Optional[Metric] = None,
        gradient_checkpointing: bool = False,
        mixed_precision: Optional[str] = None,
        initializer: Optional[InitializerApplicator] = None,
        regularizer: Optional[RegularizerApplicator] = None,
        serialization_dir: Optional[str] = None,
        ddp_accelerator: Optional[DdpAccelerator] = None,
    ) -> None:
        super().__init__(
            vocab,
            model_name,
            metric,
            task_cache_size,
            mixed_precision,
            regularizer,
            serialization_dir,
            ddp_accelerator,
        )
        check_generation_settings(beam_size, max_decoding_steps)
        self._check_backbone_kind(serialization_dir)
        overrides = {"dropout_rate": dropout} if dropout is not None else {}
        self.t5 = self._load_backbone(T5ForConditionalGeneration, serialization_dir, **overrides)
        if self.t5.config.model_type not in T5_MODEL_TYPES:
            raise ConfigurationError(
                f"hint_seq2seq runs T5-family checkpoints (model_type one of {T5_MODEL_TYPES}: T5, "
                f"T5 v1.1 / LM-adapted, flan-t5, mT5); model_name {model_name!r} is "
                f"{self.t5.config.model_type!r}."
            )
        t5_checkpoint_parameters = list(self.t5.parameters())  # before injection adds any
        self.instruction_fusion = instruction_fusion
        self._beam_size = beam_size
        self._max_decoding_steps = max_decoding_steps
        generator = self._build_hypernetwork(
            self.t5,
            self.t5.encoder,
            parameter_generator,
            peft,
            separate_instruction_encoder,
            keep_instruction_states=instruction_fusion,
            # The pretrained decoder only for generators that take it (hypertune), before injection.
            t5_decoder=self.t5.decoder,
        )
        if gradient_checkpointing:
            enable_gradient_checkpointing(self, self.active_task_state)
        # Checked at every training step for HF's checkpointing switch (see `forward`).
        self._t5_stacks = t5_stacks(self)
        # The weights each kind of token meets, generator included (`hint_allennlp.cost.flops`).
        per_token, per_task = generator.counted_weights() if generator is not None else (0, 0)
        self._track_flops(
            ParameterCounts.from_t5_config(
                self.t5.config,
                self.peft if generator is not None else None,
                generator=per_token,
                generator_per_task=per_task,
            )
        )
        if initializer is not None:
            self._initialize(initializer)
        if train_only_hypernetwork:
            freeze_all_but_hypernetwork(self, t5_checkpoint_parameters, self.hypernetwork)

    @in_mixed_precision
    def forward(  # type: ignore
        self,
        source_tokens: TextFieldTensors,
        instruction_tokens: Optional[TextFieldTensors] = None,
        target_tokens: Optional[TextFieldTensors] = None,
        answer_choices: Optional[TextFieldTensors] = None,
        metadata: Optional[List[Dict[str, Any]]] = None,
    ) -> Dict[str, Any]:
        """
        # Parameters

        source_tokens : `TextFieldTensors`
            The encoder input, [B, s].
        instruction_tokens : `TextFieldTensors`, optional
            The hypernetwork input, [B, t]; required when the model has a hypernetwork.
        target_tokens : `TextFieldTensors`, optional
            The target, [B, o]; pad positions are ignored in the loss.
        answer_choices : `TextFieldTensors`, optional
            Answer choices [B, C, c] for rank classification: each choice is scored by the sum of
            its token log-probabilities, in one batched forward pass, and the best one is predicted.
        metadata : `List[Dict[str, Any]]`, optional
            Per instance: "references", "task", "categories", "answer_choices", "gold_choice", and
            for P3 "prompt_groups" (what accuracy is averaged over prompts by, Table 10).
        """
        if self.training:
            refuse_hf_gradient_checkpointing(self._t5_stacks)
        self._check_sequence_layout(metadata)
        if instruction_tokens is not None and self.instruction_handling == "concatenated":
            formats = "; ".join(
                f"'{instruction_format}' for {', '.join(labels)}"
                for instruction_format, labels in labels_by_instruction_format().items()
            )
            raise ConfigurationError(
                "hint_seq2seq got `instruction_tokens` (from a reader with instruction_format "
                "'hint'), but this model reads no instruction (parameter_generator null or "
                "'learned', instruction_fusion false): the run would silently be No-Instruct. "
                f"The paper's models take instruction_format {formats} "
                "(hint_allennlp/models/paper_variants.py)."
            )
        input_ids = get_token_ids_from_text_field_tensors(source_tokens)  # [B, s]
        input_mask = get_text_field_mask(source_tokens)  # [B, s]
        task_state = self.task_state(instruction_tokens)

        output: Dict[str, Any] = {}
        with self.active_task_state.use(task_state):
            # [B, s, d]; with fusion, the decoder's cross-attentions also see the task's instruction
            encoded = self.t5.encoder(
                input_ids=input_ids, attention_mask=input_mask.long()
            ).last_hidden_state
            if target_tokens is not None:
                labels = self._labels(target_tokens)
                output["loss"] = self.t5(
                    encoder_outputs=(encoded,),
                    attention_mask=input_mask.long(),
                    labels=labels,
                    use_cache=False,
                ).loss

        if not self.training:
            if answer_choices is not None:
                output.update(
                    self._rank_choices(answer_choices, task_state, encoded, input_mask, metadata)
                )
                output_lengths = (self._labels(answer_choices) != -100).sum((1, 2))
            else:
                output.update(self._generate(task_state, encoded, input_mask))
                output_lengths = (output["predictions"] != self.t5.config.pad_token_id).sum(1)
            if metadata is not None:
                instruction_lengths = (
                    instruction_token_mask(instruction_tokens).flatten(1).sum(1)
                    if instruction_tokens is not None
                    else torch.zeros_like(output_lengths)
                )
                self._update_metrics(
                    output, metadata, instruction_lengths, input_mask.sum(1), output_lengths
                )
        return output

    @property
    def reads_instruction(self) -> bool:
        """Whether the model takes `instruction_tokens` (a hypernetwork that encodes them)."""
        return self.hypernetwork is not None and self.hypernetwork.reads_instruction

    @property
    def instruction_handling(self) -> str:
        """
        How the instruction reaches the model, in the terms of `hint_allennlp.cost.flops`
        (`instruction_handling`): "concatenated" for a model that reads no `instruction_tokens`,
        whatever its reader puts in its input.
        """
        return instruction_handling(self.reads_instruction, self.instruction_fusion)

    @property
    def compiles_instructions(self) -> bool:
        return self.reads_instruction

    def task_state(self, instruction_tokens: Optional[TextFieldTensors]) -> Optional[TaskState]:
        """
        Runs the hypernetwork once per distinct instruction in the batch (in evaluation, only for
        instructions not in the task cache); with fusion, each cross-attention projects each
        distinct instruction once (`modules/inserted/instruction_fusion.py`). When every example
        shares one instruction the modules keep batch size 1 and are broadcast; otherwise they are
        gathered per example.
        """
        if self.hypernetwork is None:
            return None
        if not self.hypernetwork.reads_instruction:
            return self.hypernetwork(None, None)
        if instruction_tokens is None:
            raise ConfigurationError(
                "This model reads instructions: give it `instruction_tokens` "
                "(a reader with instruction_format 'hint')"
            )
        return self._task_parameters_per_example(instruction_tokens)

    def _make_task_parameters(
        self, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor
    ) -> TaskState:
        return self.hypernetwork(instruction_ids, instruction_mask)

    def _generate(
        self,
        task_state: Optional[TaskState],
        encoded: torch.Tensor,
        input_mask: torch.Tensor,
    ) -> Dict[str, Any]:
        # HF's generate repeats each example beam_size times in a row; the modules follow.
        beam_parameters = (
            task_state.repeat_interleave(self._beam_size) if task_state is not None else None
        )
        with self.active_task_state.use(beam_parameters):
            generated = self.t5.generate(
                encoder_outputs=BaseModelOutput(last_hidden_state=encoded),
                attention_mask=input_mask.long(),
                num_beams=self._beam_size,
                max_new_tokens=self._max_decoding_steps,
                do_sample=False,
            )
        predictions = generated[:, 1:]  # [B, L], without the decoder start token
        return {
            "predictions": predictions,
            "predicted_text": self.tokenizer.batch_decode(predictions, skip_special_tokens=True),
        }

    def _rank_choices(
        self,
        answer_choices: TextFieldTensors,
        task_state: Optional[TaskState],
        encoded: torch.Tensor,
        input_mask: torch.Tensor,
        metadata: Optional[List[Dict[str, Any]]],
    ) -> Dict[str, Any]:
        labels = self._labels(answer_choices)  # [B, C, c]
        batch_size, num_choices, choice_length = labels.shape
        flat_labels = labels.view(batch_size * num_choices, choice_length)
        choice_parameters = (
            task_state.repeat_interleave(num_choices) if task_state is not None else None
        )
        with self.active_task_state.use(choice_parameters):
            logits = self.t5(
                encoder_outputs=(encoded.repeat_interleave(num_choices, dim=0),),  # [B * C, s, d]
                attention_mask=input_mask.repeat_interleave(num_choices, dim=0).long(),
                labels=flat_labels,
                use_cache=False,
            ).logits  # [B * C, c, V]
        token_log_probs = self._token_log_probs(logits, flat_labels)  # [B * C, c]
        return self._choice_output(answer_choices, token_log_probs, metadata)
