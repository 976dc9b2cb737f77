import logging
from contextlib import nullcontext
from typing import Any, ContextManager, Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models import Model
from allennlp.nn import InitializerApplicator, RegularizerApplicator
from allennlp.nn.parallel import DdpAccelerator
from allennlp.nn.util import get_text_field_mask, get_token_ids_from_text_field_tensors
from allennlp.training.metrics import Metric
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

from hint_allennlp.cost.flops import DecoderOnlyCounts
from hint_allennlp.models.instruction_model import InstructionModel, check_generation_settings
from hint_allennlp.modules.backbone import config_source
from hint_allennlp.modules.large_models.mixed_precision import (
    in_mixed_precision,
)
from hint_allennlp.modules.logits_where_used import logits_only_at
from hint_allennlp.modules.peft.task_parameters import TaskParameters
from hint_allennlp.modules.serving.instruction_key_values import (
    hf_past_key_values,
    instruction_key_values,
)
from hint_allennlp.modules.serving.shared_prefix_attention import (
    SharedPrefix,
    prefix_model_inputs,
    shared_prefix,
)

logger = logging.getLogger(__name__)

# How the cached instruction's keys and values are attended (`instruction_key_values`).
INSTRUCTION_KEY_VALUES = ("shared", "per_example")
# Activations that transformers 4.49 computes unfused, and the fused one the config names that
# computes the same function (GPT-2's `gelu_new` is tanh-approximated GELU).
FUSED_ACTIVATIONS = {"gelu_new": "gelu_pytorch_tanh"}


@Model.register("instruction_causal_lm")
class InstructionCausalLM(InstructionModel):
    """
    A decoder-only language model fine-tuned to follow instructions: the paper's GPT-2 XL and
    OPT-13B baselines (Table 1, appendix D), for any HuggingFace causal LM by hub name or local
    path (GPT-2, OPT, Llama, Qwen: one code path).

    The prompt is `instruction_tokens` (when given) followed by `source_tokens`, the target its
    continuation, in the reader's `decoder_only` sequence layout
    (`hint_allennlp/data/sequence_layout.py`): with `instruction_format: "tk_instruct_prefix"`
    the two fields are Tk-Instruct's prompt split after the instruction, so that the instruction
    can be cached; with `"tk_instruct"` the whole prompt is `source_tokens`.

    - Training: the loss is the mean negative log-likelihood of the target tokens and their EOS,
      as in Iyer et al. (2022), which the paper follows: prompt and padding positions predict
      nothing.
    - Generation: greedy or beam search (HF's `generate`), which stops at EOS; `predicted_text`
      without the leading whitespace that the reader moves from the prompt to the target
      (`sequence_layout.move_trailing_whitespace`). The prompts of a
      batch are moved to the right end of their rows (left padding) and every position id is
      computed from the attention mask, so an example generates what it generates alone.
    - Rank classification: each answer choice is scored by the summed log-likelihood of its tokens
      and EOS after the prompt, all choices in one batched forward pass.
    - Instruction key/value cache: in evaluation and prediction, when the reader gives
      `instruction_tokens`, each distinct instruction runs once and the keys and values of all its
      layers are kept (the task cache, `task_module_cache_size` instructions, least recently used
      first out); every input of the task continues from them. The prompt of an example is then
      `[instruction][padding][input]`, the padding masked and skipped by the position ids, which
      gives the predictions of the uncached model. `allennlp hint-compile` saves them per task.
      The instruction's keys and values are one copy per distinct instruction, attended by all
      its examples (`modules/serving/shared_prefix_attention.py`); only the examples' own keys
      and values grow in HF's cache.
    - Logits are computed only where they are used: at the positions that predict a target or
      choice token, and at the last position in generation (`modules/logits_where_used.py`).
      GPT-2's `gelu_new` runs as the fused `gelu_pytorch_tanh` (`FUSED_ACTIVATIONS`).

    Output dict and metrics: `InstructionModel`'s; `relative_flops` is against the same model
    reading the instruction with every input (no cache): 1 without the cache, or when the
    instruction is inside `source_tokens` (`hint_allennlp.cost.flops`, `instruction_handling`
    "key_value_cached" and "concatenated").

    # Parameters

    vocab : `Vocabulary`
        Unused (the vocabulary is the checkpoint's).
    model_name : `str`
        A HuggingFace causal LM, by hub name or local path (`gpt2-xl`, `facebook/opt-13b`).
    beam_size : `int`, optional (default = `1`)
        1 is greedy decoding.
    max_decoding_steps : `int`, optional (default = `64`)
        Maximum number of generated tokens (EOS included).
    task_module_cache_size : `int`, optional (default = `16`)
        In evaluation, the keys and values of this many recent instructions are kept (0: no
        cache; every prompt is processed whole).
    instruction_key_values : `str`, optional (default = `"shared"`)
        How the cached instruction's keys and values are attended: `"shared"`, one copy per
        distinct instruction for all its examples; `"per_example"`, copied to every example (and
        beam) into HF's cache, as HF's `past_key_values` takes them: the same predictions, more
        time and memory (kept to measure against, `benchmark/decoder_only.py`).
    metric : `Metric`, optional (default = `instruction_metrics`)
    gradient_checkpointing : `bool`, optional (default = `False`)
        HF's own (`gradient_checkpointing_enable`, non-reentrant): each layer recomputed in
        backward. Same loss and gradients, less memory.
    mixed_precision : `str`, optional (default = `None`)
        `"bf16"`: bf16 autocast on the model's device, float32 weights
        (`modules/large_models/mixed_precision.py`).
    initializer : `InitializerApplicator`, optional
        Applied after the checkpoint is loaded.
    regularizer, serialization_dir, ddp_accelerator
        As in AllenNLP's `Model`.
    """

    default_predictor = "hint_instruction"
    sequence_layout = "decoder_only"
    refused_instruction_formats = {
        "hint": "it leaves Tk-Instruct's query ('Now complete the following example - Input: ... "
        "Output:') out of the prompt, so the model would learn and predict without it. Set "
        "instruction_format 'tk_instruct_prefix' (the instruction's keys and values cached) or "
        "'tk_instruct'."
    }

    def __init__(
        self,
        vocab: Vocabulary,
        model_name: str,
        beam_size: int = 1,
        max_decoding_steps: int = 64,
        task_module_cache_size: int = 16,
        instruction_key_values: str = "shared",
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
            task_module_cache_size,
            mixed_precision,
            regularizer,
            serialization_dir,
            ddp_accelerator,
        )
        check_generation_settings(beam_size, max_decoding_steps)
        if instruction_key_values not in INSTRUCTION_KEY_VALUES:
            raise ConfigurationError(
                f"instruction_causal_lm: instruction_key_values must be one of "
                f"{INSTRUCTION_KEY_VALUES}, not {instruction_key_values!r}"
            )
        self.instruction_key_values = instruction_key_values
        self._check_backbone_kind(serialization_dir)
        config = AutoConfig.from_pretrained(config_source(model_name, serialization_dir))
        self.lm = self._load_backbone(
            AutoModelForCausalLM, serialization_dir, **fused_activations(config)
        )
        eos = self.lm.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ConfigurationError(f"{model_name} has no EOS token to end its targets with")
        self._eos_ids: List[int] = list(eos) if isinstance(eos, (list, tuple)) else [eos]
        # GPT-2 has no pad token: after EOS, generation fills with EOS (skipped when decoding).
        pad = self.tokenizer.pad_token_id
        self._pad_id = self._eos_ids[0] if pad is None else pad
        self._max_positions: Optional[int] = getattr(
            self.lm.config, "max_position_embeddings", None
        )
        # What every `generate` call of the model runs with (not the checkpoint's, which may
        # sample): greedy or beam search, stopping at EOS.
        self.generation_config = GenerationConfig(
            num_beams=beam_size,
            max_new_tokens=max_decoding_steps,
            do_sample=False,
            eos_token_id=self._eos_ids,
            pad_token_id=self._pad_id,
        )
        if gradient_checkpointing:
            self.lm.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        self._track_flops(DecoderOnlyCounts.from_model(self.lm))
        if initializer is not None:
            self._initialize(initializer)

    @property
    def instruction_handling(self) -> str:
        return "key_value_cached" if self.task_parameter_cache.enabled else "concatenated"

    @property
    def compiles_instructions(self) -> bool:
        return True

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
            The prompt after the instruction (or all of it), [B, s].
        instruction_tokens : `TextFieldTensors`, optional
            The prompt's first part, [B, t]; cached in evaluation.
        target_tokens : `TextFieldTensors`, optional
            The continuation to learn, ending in EOS, [B, o].
        answer_choices : `TextFieldTensors`, optional
            Answer choices [B, C, c], each ending in EOS, for rank classification.
        metadata : `List[Dict[str, Any]]`, optional
            Per instance: "references", "task", "categories", "answer_choices", "gold_choice",
            "sequence_layout", and for P3 "prompt_groups" (what accuracy is averaged over prompts
            by, Table 10).
        """
        self._check_sequence_layout(metadata)
        prompt = [
            (get_token_ids_from_text_field_tensors(tokens), get_text_field_mask(tokens))
            for tokens in (instruction_tokens, source_tokens)
            if tokens is not None
        ]  # each [B, n]
        output: Dict[str, Any] = {}
        if target_tokens is not None:
            labels = self._labels(target_tokens)  # [B, o]
            self._check_continuations(labels, "target_tokens")
            token_log_probs = self._continuation_log_probs(prompt, labels)  # [B, o]
            output["loss"] = -token_log_probs[labels != -100].mean()

        if not self.training:
            cached = instruction_tokens is not None and self.task_parameter_cache.enabled
            # The cached instructions' keys and values, each example's among them, and the
            # prompt's rest.
            prefix = self._task_parameters_per_instruction(instruction_tokens) if cached else None
            rest = prompt[1:] if cached else prompt
            if answer_choices is not None:
                output.update(self._rank_choices(answer_choices, prefix, rest, metadata))
                output_lengths = (self._labels(answer_choices) != -100).sum((1, 2))
            else:
                output.update(self._generate(prefix, rest))
                output_lengths = self._generated_lengths(output["predictions"])
            if metadata is not None:
                input_lengths = prompt[-1][1].sum(1)
                instruction_lengths = (
                    prompt[0][1].sum(1)
                    if instruction_tokens is not None
                    else torch.zeros_like(input_lengths)
                )
                self._update_metrics(
                    output, metadata, instruction_lengths, input_lengths, output_lengths
                )
        return output

    # --- What is kept per instruction: its keys and values ------------------------------------

    @in_mixed_precision
    def _make_task_parameters(
        self, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor
    ) -> TaskParameters:
        """
        The keys and values of every layer over instructions [U, t] (padded on the right, so that
        each real token sees only real tokens before it and sits at its own position), in the
        model's mixed precision (a bf16 model's compiled task holds bf16 keys and values, as its
        live cache).
        """
        positions = torch.arange(instruction_ids.size(1), device=instruction_ids.device)
        past = self.lm(
            input_ids=instruction_ids,
            attention_mask=instruction_mask.long(),
            position_ids=positions.expand_as(instruction_ids),
            use_cache=True,
        ).past_key_values
        return instruction_key_values(past, instruction_mask)

    def _prefix_inputs(
        self,
        prefix: Tuple[TaskParameters, torch.Tensor],
        ids: torch.Tensor,
        mask: torch.Tensor,
        repeats: int,
        for_generate: bool,
    ) -> Tuple[Dict[str, Any], ContextManager]:
        """
        The model's inputs for prompts `ids`, `mask` [R, n] after the cached instructions
        (`prefix`: their keys and values [U], each row's among them [R]), and the context to run
        it in. `repeats`: rows per row of `ids` that the model will run (`generate`'s beams).
        The mask [R, T + n] covers instruction and prompt.
        """
        kept, task_index = prefix
        if self.instruction_key_values == "shared":
            rows = SharedPrefix.from_kept(kept, task_index)
            inputs = prefix_model_inputs(
                self.lm, rows, ids, mask, self._pad_id, for_generate, repeats
            )
            return inputs, shared_prefix(self.lm, rows.repeated(repeats))
        # Every row's copy of its instruction's keys and values, as HF's cache takes them.
        per_row = kept.index_select(task_index.repeat_interleave(repeats))
        past_mask = kept["instruction_mask"][task_index]  # [R, T]
        if for_generate:  # the cached positions get pad ids, never read
            ids = torch.cat([torch.full_like(past_mask, self._pad_id, dtype=ids.dtype), ids], 1)
        inputs = {
            "input_ids": ids,
            "attention_mask": torch.cat([past_mask, mask.bool()], dim=1).long(),
            "past_key_values": hf_past_key_values(self.lm, per_row),
        }
        return inputs, nullcontext()

    # --- Sequences ----------------------------------------------------------------------------

    def _check_continuations(self, labels: torch.Tensor, field: str) -> None:
        """Every target (or answer choice) [..., c] must end with EOS, as the layout says."""
        mask = labels != -100
        lengths = mask.sum(-1)
        last = labels.gather(-1, (lengths - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        ends_with_eos = torch.isin(last, torch.tensor(self._eos_ids, device=labels.device))
        if not bool((ends_with_eos | (lengths == 0)).all()):
            raise ConfigurationError(
                f"instruction_causal_lm: some {field} do not end with EOS {self._eos_ids}, so the "
                "model would never learn to stop: read them with the dataset reader's "
                "`sequence_layout: 'decoder_only'` (hint_allennlp/data/sequence_layout.py)."
            )

    def _check_length(self, length: int, what: str) -> None:
        if self._max_positions is not None and length > self._max_positions:
            raise ConfigurationError(
                f"instruction_causal_lm: {what} of {length} tokens exceed the "
                f"{self._max_positions} positions of {self.model_name}: lower the reader's "
                "max_instruction_tokens / max_source_tokens / max_target_tokens or the model's "
                "max_decoding_steps."
            )

    @staticmethod
    def _packed(parts: List[tuple], left: bool) -> tuple:
        """
        Parts [R, n_i] with their masks, concatenated with every row's real tokens kept in order
        and moved together to the left end (padding after them) or, `left`, to the right end
        (padding before them, for generation): ids and mask [R, sum n_i].
        """
        ids = torch.cat([part_ids for part_ids, _ in parts], dim=1)
        mask = torch.cat([part_mask for _, part_mask in parts], dim=1)
        key = mask.long() if left else (~mask).long()
        order = torch.sort(key, dim=1, stable=True).indices
        return ids.gather(1, order), mask.gather(1, order)

    @staticmethod
    def _position_ids(mask: torch.Tensor, length: int) -> torch.Tensor:
        """
        Each real token's position among the real tokens of its row (`mask` [R, T + n]), for the
        last `length` positions [R, n]; padding gets 0.
        """
        return (mask.long().cumsum(-1) - 1).clamp(min=0)[:, -length:]

    def _continuation_log_probs(
        self,
        prompt: List[tuple],
        labels: torch.Tensor,
        prefix: Optional[Tuple[TaskParameters, torch.Tensor]] = None,
    ) -> torch.Tensor:
        """
        The log-probability of each continuation token (`labels` [R, c], -100 at padding) after
        its row's prompt (`prompt`: parts [R, n_i] with masks, after the cached instructions
        `prefix` if given, as `_prefix_inputs` takes them): [R, c].
        """
        rows, length = labels.shape
        continuation_mask = labels != -100
        ids, mask = self._packed(prompt + [(labels.clamp(min=0), continuation_mask)], left=False)
        prompt_lengths = sum(part_mask.sum(1) for _, part_mask in prompt)  # [R]
        if prefix is None:
            inputs, context = {"input_ids": ids, "attention_mask": mask.long()}, nullcontext()
        else:
            if bool((prompt_lengths == 0).any()):
                raise ConfigurationError("A cached instruction needs some input after it to score.")
            inputs, context = self._prefix_inputs(prefix, ids, mask, 1, for_generate=False)
        full_mask = inputs["attention_mask"].bool()  # [R, T + n]
        self._check_length(int(full_mask.sum(1).max()), "prompt and target")
        # The logits that predict continuation token j of a row sit at its prompt length + j - 1.
        index = (prompt_lengths.unsqueeze(1) - 1 + torch.arange(length, device=ids.device)).clamp(
            0, ids.size(1) - 1
        )  # [R, c]
        with context, logits_only_at(self.lm, index):
            logits = self.lm(
                **inputs,
                position_ids=self._position_ids(full_mask, ids.size(1)),
                use_cache=prefix is not None,
            ).logits  # [R, c, V]
        return self._token_log_probs(logits.float(), labels)  # [R, c]

    def _rank_choices(
        self,
        answer_choices: TextFieldTensors,
        prefix: Optional[Tuple[TaskParameters, torch.Tensor]],
        prompt: List[tuple],
        metadata: Optional[List[Dict[str, Any]]],
    ) -> Dict[str, Any]:
        labels = self._labels(answer_choices)  # [B, C, c]
        batch_size, num_choices, choice_length = labels.shape
        self._check_continuations(labels, "answer_choices")
        flat_labels = labels.view(batch_size * num_choices, choice_length)
        # Each prompt once per choice: [B * C, n]
        choice_prompt = [
            (ids.repeat_interleave(num_choices, 0), mask.repeat_interleave(num_choices, 0))
            for ids, mask in prompt
        ]
        choice_prefix = (
            (prefix[0], prefix[1].repeat_interleave(num_choices)) if prefix is not None else None
        )
        token_log_probs = self._continuation_log_probs(choice_prompt, flat_labels, choice_prefix)
        return self._choice_output(answer_choices, token_log_probs, metadata)

    def _generate(
        self, prefix: Optional[Tuple[TaskParameters, torch.Tensor]], prompt: List[tuple]
    ) -> Dict[str, Any]:
        ids, mask = self._packed(prompt, left=True)  # [B, n], padding first
        if prefix is None:
            inputs, context = {"input_ids": ids, "attention_mask": mask.long()}, nullcontext()
        else:
            inputs, context = self._prefix_inputs(
                prefix, ids, mask, self.generation_config.num_beams, for_generate=True
            )
        self._check_length(
            int(inputs["attention_mask"].sum(1).max()) + self.generation_config.max_new_tokens,
            "prompt and max_decoding_steps",
        )
        with context, logits_only_at(self.lm, None):
            generated = self.lm.generate(**inputs, generation_config=self.generation_config)
        predictions = generated[:, inputs["input_ids"].size(1) :]  # [B, L], what follows the prompt
        texts = self.tokenizer.batch_decode(predictions, skip_special_tokens=True)
        # Without the whitespace that the layout moved from the prompt's end to the targets'.
        return {"predictions": predictions, "predicted_text": [text.lstrip() for text in texts]}

    def _generated_lengths(self, predictions: torch.Tensor) -> torch.Tensor:
        """Generated tokens up to and including the first EOS (all of them without one): [B]."""
        is_eos = torch.isin(predictions, torch.tensor(self._eos_ids, device=predictions.device))
        all_of_them = torch.full_like(is_eos[:, 0], predictions.size(1), dtype=torch.long)
        return torch.where(is_eos.any(1), is_eos.long().argmax(1) + 1, all_of_them)


def fused_activations(config) -> Dict[str, str]:
    """The config overrides that swap an unfused activation for its fused equal."""
    return {
        name: FUSED_ACTIVATIONS[value]
        for name in ("activation_function", "hidden_act")
        if (value := getattr(config, name, None)) in FUSED_ACTIVATIONS
    }
