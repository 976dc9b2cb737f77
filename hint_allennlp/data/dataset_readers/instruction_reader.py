"""
The base of every reader in this package: it owns the tokenizer, the token indexers, the length
limits and the one function that turns texts into an `Instance` with the fields that the
`hint_seq2seq` and `instruction_causal_lm` models read.

Fields (the contract with the model; which special tokens each carries, and how they are padded:
`hint_allennlp/data/sequence_layout.py`):

- `source_tokens`: encoder input (decoder-only: the prompt's part after the instruction, or the
  whole prompt), always present.
- `instruction_tokens`: hypernetwork input (decoder-only: the prompt's first part), present only
  when the instance has an instruction part; with `instruction_chunking` a `ListField` of
  `TextField`s, its chunks.
- `target_tokens`: the target, absent when the instance has none (e.g. at prediction time).
- `answer_choices`: `ListField[TextField]`, the choices in the target tokenization, only when the
  data has answer choices.
- `metadata`: `{"task", "categories", "references", "instruction", "input", "source", "id",
  "sequence_layout"}`, plus `"tokenizer"` (a pretrained tokenizer's name, EOS id and size, which
  the models check against theirs), `"answer_choices"` and `"gold_choice"` when the data has
  answer choices, and `"prompt_groups"` where the reader gives them (P3: what evaluation averages
  prompts over, Table 10). `input` is the instance's own input, as the data gives it, whatever
  prompt the reader builds around it (what predictions report for every model); `source` is the
  text of `source_tokens` (before a byte-level BPE's whitespace moves between the fields). With
  `instruction_chunking`, also `"instruction_chunks"` (how many).
"""

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance, Token
from allennlp.data.fields import Field, ListField, MetadataField, TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer, TokenIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer, Tokenizer
from transformers import AutoConfig

from hint_allennlp.data import sequence_layout as layout
from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.data.instruction_inputs import gold_choice_index
from hint_allennlp.modules.backbone import config_source

logger = logging.getLogger(__name__)

TEXT_FIELD_NAMES = ("source_tokens", "instruction_tokens", "target_tokens")
# How many distinct texts `_tokenize` keeps the tokens of (it starts afresh when full).
TOKENIZED_TEXTS_KEPT = 4096
# The key under which a HF tokenizer remembers that it gave its sequence length warning.
HF_LENGTH_WARNING = "sequence-length-is-longer-than-the-specified-maximum"


@dataclass(frozen=True)
class TokenizedText:
    """A text and its tokens (the tokenizer's special tokens, e.g. T5's `</s>`, included)."""

    text: str
    tokens: List[Token]


def is_byte_level_bpe(hf_tokenizer) -> bool:
    """Whether a HF tokenizer pre-tokenizes bytes with spaces attached to the word after them."""
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    return backend is not None and '"ByteLevel"' in json.dumps(
        json.loads(backend.to_str()).get("pre_tokenizer")
    )


def mixed_answer_choices_message(
    file_path: str, first: Instance, instance: Instance, number: int
) -> str:
    """Why an instance cannot be read after the first one, naming both and the setting to change."""

    def describe(which: Instance) -> str:
        metadata = which["metadata"].metadata  # type: ignore[attr-defined]
        has = "has" if "answer_choices" in which.fields else "has no"
        return f"task {metadata['task']!r}, id {metadata['id']!r}, {has} answer_choices"

    return (
        f"{file_path}: instance {number} ({describe(instance)}) cannot be read with the first "
        f"instance ({describe(first)}): AllenNLP batches only instances with the same fields. Set "
        "the reader's `answer_choices: false` to read all of them as text (the choices stay in the "
        "metadata), or read the tasks with answer choices from separate files."
    )


class InstructionReader(DatasetReader):
    """
    Not registered itself: the registered readers subclass it. Every reader shards its input with
    `shard_iterable` (safe under distributed training and multi-process loading) and creates
    `TextField`s without token indexers; `apply_token_indexers` adds them.

    # Parameters

    tokenizer : `Tokenizer`, optional (default = `PretrainedTransformerTokenizer(model_name)`)
        Tokenizes every text: instruction, encoder input, target and answer choices.
    token_indexers : `Dict[str, TokenIndexer]`, optional
        Shared by all text fields. Default: `{"tokens": PretrainedTransformerIndexer(model_name)}`.
    model_name : `str`, optional (default = `None`)
        A HuggingFace model name or path, used to build whichever of `tokenizer` and
        `token_indexers` is not given. Required unless both are given. When AllenNLP loads an
        archive that carries the model's copy of this checkpoint's tokenizer (`backbone/`), the
        copy is used (`hint_allennlp/modules/backbone.py`).
    max_instruction_tokens : `int`, optional (default = `1024`)
        Hypernetwork inputs are truncated to this many tokens, keeping the final `</s>`.
    max_source_tokens : `int`, optional (default = `1024`)
        Encoder inputs are truncated to this many tokens, keeping the final `</s>`.
    max_target_tokens : `int`, optional (default = `256`)
        Targets and answer choices are truncated to this many tokens, keeping the final `</s>`
        (decoder-only: EOS). In the `decoder_only` layout the three limits together may not exceed
        the backbone's positions (`max_position_embeddings`): refused when the reader is built.
    sequence_layout : `str`, optional (default = `"encoder_decoder"`)
        Which special tokens each field carries: `"encoder_decoder"` for `hint_seq2seq`,
        `"decoder_only"` for `instruction_causal_lm` (`hint_allennlp/data/sequence_layout.py`).
        The models refuse instances read in the other layout.
    answer_choices : `bool`, optional (default = `True`)
        Give instances with answer choices their `answer_choices` field (rank classification).
        AllenNLP batches only instances with the same fields, so a file that mixes instances with
        and without choices is refused when read, naming the file, both instances and this
        setting; turn it off to read such data as text (the metadata keeps the choices either way).
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`; any other key is refused with a `ConfigurationError`.
    """

    def __init__(
        self,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        model_name: Optional[str] = None,
        max_instruction_tokens: int = 1024,
        max_source_tokens: int = 1024,
        max_target_tokens: int = 256,
        answer_choices: bool = True,
        sequence_layout: str = "encoder_decoder",
        max_instances: Optional[int] = None,
        serialization_dir: Optional[str] = None,
        **unknown_keys,
    ) -> None:
        # The readers below pass on what they do not take themselves as `**kwargs`, and AllenNLP
        # then hands them every key of the config: a key that no constructor in the chain takes
        # ends here, refused as AllenNLP refuses extra keys of a class without `**kwargs`.
        if unknown_keys:
            raise ConfigurationError(
                f"Extra parameters passed to {type(self).__name__}: {sorted(unknown_keys)}"
            )
        super().__init__(
            max_instances=max_instances,
            manual_distributed_sharding=True,
            manual_multiprocess_sharding=True,
            serialization_dir=serialization_dir,
        )
        self._answer_choices_field = answer_choices
        if (tokenizer is None or token_indexers is None) and model_name is None:
            raise ConfigurationError(
                "Give `model_name`, or both `tokenizer` and `token_indexers` "
                "(e.g. type pretrained_transformer with the T5 model name)."
            )
        self._model_name = model_name
        if tokenizer is None or token_indexers is None:
            # The copy an archive carries when AllenNLP loads one (`modules/backbone.py`).
            model_name = config_source(model_name, serialization_dir)  # type: ignore[arg-type]
        self._tokenizer = tokenizer or PretrainedTransformerTokenizer(model_name)  # type: ignore
        self._token_indexers = token_indexers or {
            "tokens": PretrainedTransformerIndexer(model_name)  # type: ignore
        }
        if isinstance(self._tokenizer, PretrainedTransformerTokenizer):
            # HF warns once that a sequence is longer than the model's nominal length (T5: "> 512
            # ... will result in indexing errors"). T5 has relative positions, so no error follows,
            # and the limits that apply are this reader's, reported per file by `log_counts`.
            self._tokenizer.tokenizer.deprecation_warnings[HF_LENGTH_WARNING] = True
        layout.check_sequence_layout(sequence_layout)
        self._sequence_layout = sequence_layout
        self._tokenized: Dict[str, TokenizedText] = {}
        # A PretrainedTransformerTokenizer as built from `model_name` gives one token per id of its
        # HF tokenizer's `encode`, special tokens included (no `max_length`).
        pretrained = isinstance(self._tokenizer, PretrainedTransformerTokenizer)
        self._counts_hf_ids = (
            pretrained
            and self._tokenizer._add_special_tokens
            and self._tokenizer._max_length is None
        )
        # What the tokenizer puts around a sequence (T5: `</s>` at the end; OPT: `</s>` at the
        # start) and its EOS, from which `sequence_layout` makes each field's tokens.
        self._start_tokens: List[Token] = (
            list(self._tokenizer.single_sequence_start_tokens) if pretrained else []
        )
        self._end_tokens: List[Token] = (
            list(self._tokenizer.single_sequence_end_tokens) if pretrained else []
        )
        hf_tokenizer = self._tokenizer.tokenizer if pretrained else None
        self._eos_token: Optional[Token] = (
            Token(hf_tokenizer.eos_token, text_id=hf_tokenizer.eos_token_id, type_id=0)
            if hf_tokenizer is not None and hf_tokenizer.eos_token is not None
            else None
        )
        # Which tokenizer made the token ids, for the models' check that it is theirs.
        self._tokenizer_identity = (
            {
                "name": hf_tokenizer.name_or_path,
                "eos_token_id": hf_tokenizer.eos_token_id,
                "size": len(hf_tokenizer),
            }
            if hf_tokenizer is not None
            else None
        )
        # A byte-level BPE tokenizer attaches a space to the word after it: decoder-only fields
        # then give the whole string's tokens only with their boundaries moved
        # (`layout.move_trailing_whitespace`).
        self._moves_whitespace = (
            sequence_layout == "decoder_only"
            and hf_tokenizer is not None
            and is_byte_level_bpe(hf_tokenizer)
        )
        if sequence_layout == "decoder_only" and self._eos_token is None:
            raise ConfigurationError(
                "sequence_layout 'decoder_only' ends every target with EOS: give a "
                "pretrained_transformer tokenizer that has an EOS token."
            )
        self._max_lengths = {
            "instruction_tokens": max_instruction_tokens,
            "source_tokens": max_source_tokens,
            "target_tokens": max_target_tokens,
        }
        if min(self._max_lengths.values()) < 1:
            raise ConfigurationError(f"Length limits must be positive: {self._max_lengths}.")
        if sequence_layout == "decoder_only" and model_name is not None:
            self._check_limits_fit_the_positions(config_source(model_name, serialization_dir))
        # What was skipped or shortened while reading; logged when a `_read` finishes.
        self._counts: Counter = Counter()

    def _check_limits_fit_the_positions(self, checkpoint: str) -> None:
        """
        In the decoder-only layout the prompt (instruction and input) and the target are one
        sequence: limits whose sum exceeds the backbone's positions would fail only when a long
        enough batch arrives, possibly hours into a run.
        """
        config = AutoConfig.from_pretrained(checkpoint)
        positions = getattr(config, "max_position_embeddings", None)
        if config.is_encoder_decoder or positions is None:
            return
        total = sum(self._max_lengths.values())
        if total > positions:
            limits = " + ".join(f"max_{name} {value}" for name, value in self._max_lengths.items())
            raise ConfigurationError(
                f"The dataset reader's length limits, {limits} = {total} tokens, exceed the "
                f"{positions} positions of {self._model_name!r} (its config's "
                "max_position_embeddings): in the 'decoder_only' sequence layout the prompt and "
                "the target are one sequence, and an instance that long would fail when its batch "
                f"arrives. Lower the limits to at most {positions} tokens in all (the decoder-only "
                "recipe's are in hint_allennlp/models/paper_variants.json, `lengths`)."
            )

    def apply_token_indexers(self, instance: Instance) -> None:
        for name in (*TEXT_FIELD_NAMES, "answer_choices"):
            field = instance.fields.get(name)
            # A ListField (answer choices, an instruction in chunks) holds TextFields.
            for text_field in field.field_list if isinstance(field, ListField) else [field]:
                if text_field is not None:
                    text_field.token_indexers = self._token_indexers  # type: ignore

    def _tokenize(self, text: str) -> TokenizedText:
        """
        A task's instruction (and often its targets) is the same text for thousands of instances:
        each text is tokenized once while it is in a bounded cache (the tokens are never changed).
        """
        tokenized = self._tokenized.get(text)
        if tokenized is None:
            if len(self._tokenized) >= TOKENIZED_TEXTS_KEPT:
                self._tokenized.clear()
            tokenized = self._tokenized[text] = TokenizedText(text, self._tokenizer.tokenize(text))
        return tokenized

    def _count_tokens(self, text: str) -> int:
        if self._counts_hf_ids:
            # The same count without building AllenNLP's Token objects (most of the time).
            return len(self._tokenizer.tokenizer.encode(text))  # type: ignore[attr-defined]
        return len(self._tokenizer.tokenize(text))

    def _ends_with_end_tokens(self, tokens: Sequence[Token]) -> bool:
        count = len(self._end_tokens)
        return count > 0 and [token.text for token in tokens[-count:]] == [
            token.text for token in self._end_tokens
        ]

    def _truncate(
        self, tokens: List[Token], max_tokens: int, field_name: str, role: str
    ) -> List[Token]:
        if len(tokens) <= max_tokens:
            return tokens
        self._counts[f"{field_name} truncated to max_{field_name} = {max_tokens} tokens"] += 1
        kept = layout.kept_end_tokens(
            self._sequence_layout, role, self._end_tokens, self._eos_token
        )
        count = len(kept)
        if count == 0 or [token.text for token in tokens[-count:]] != [t.text for t in kept]:
            count = 0
        return tokens[: max_tokens - count] + tokens[len(tokens) - count :]

    def _text_field(self, text: TokenizedText, field_name: str, role: str) -> TextField:
        """The field's tokens in the reader's `sequence_layout`, truncated."""
        tokens = layout.field_tokens(
            self._sequence_layout,
            role,
            text.tokens,
            self._start_tokens,
            self._end_tokens,
            self._eos_token,
        )
        # No indexers here: `apply_token_indexers` adds them, so that worker processes do not
        # pickle the (large) pretrained indexers along with every instance.
        return TextField(self._truncate(tokens, self._max_lengths[field_name], field_name, role))

    def _make_instance(
        self,
        source: TokenizedText,
        *,
        instruction: Union[None, TokenizedText, Sequence[TokenizedText]],
        target: Optional[TokenizedText],
        references: Sequence[str],
        task: str,
        categories: Sequence[str],
        instance_id: Optional[str],
        answer_choices: Optional[Sequence[str]] = None,
        prompt_groups: Optional[Sequence[str]] = None,
        instance_input: Optional[str] = None,
    ) -> Instance:
        """
        The one place the field contract (module docstring) is built. An `instruction` in chunks
        (the readers' `instruction_chunking`) becomes a `ListField` of `TextField`s.
        `instance_input` is the instance's own input when `source` is a prompt built around it
        (default: `source`'s text).
        """
        original_source = source
        original_chunks = [instruction] if isinstance(instruction, TokenizedText) else instruction
        choice_prefix = ""
        if self._moves_whitespace and isinstance(instruction, list):
            # Chunks are sequences of their own: only the last one's trailing whitespace moves.
            last, source, target, choice_prefix = self._whitespace_moved(
                instruction[-1], source, target
            )
            instruction = [*instruction[:-1], last]
        elif self._moves_whitespace:
            instruction, source, target, choice_prefix = self._whitespace_moved(
                instruction, source, target
            )
        fields: Dict[str, Field] = {
            "source_tokens": self._text_field(
                source,
                "source_tokens",
                layout.PROMPT_START if instruction is None else layout.PROMPT_CONTINUATION,
            )
        }
        chunks = [instruction] if isinstance(instruction, TokenizedText) else instruction
        if isinstance(instruction, TokenizedText):
            fields["instruction_tokens"] = self._text_field(
                instruction, "instruction_tokens", layout.PROMPT_START
            )
        elif instruction is not None:
            fields["instruction_tokens"] = ListField(
                [
                    self._text_field(chunk, "instruction_tokens", layout.PROMPT_START)
                    for chunk in instruction
                ]
            )
        if target is not None:
            fields["target_tokens"] = self._text_field(target, "target_tokens", layout.CONTINUATION)
        metadata = {
            "task": task,
            "categories": list(categories),
            "references": list(references),
            "instruction": (
                "" if original_chunks is None else "".join(chunk.text for chunk in original_chunks)
            ),
            "input": original_source.text if instance_input is None else instance_input,
            "source": original_source.text,
            "id": instance_id,
            layout.METADATA_KEY: self._sequence_layout,
        }
        if self._tokenizer_identity is not None:
            metadata["tokenizer"] = self._tokenizer_identity
        if answer_choices and self._answer_choices_field:
            # Choices are scored as targets (rank classification), so they share its tokenization.
            fields["answer_choices"] = ListField(
                [
                    self._text_field(
                        self._tokenize(choice_prefix + choice), "target_tokens", layout.CONTINUATION
                    )
                    for choice in answer_choices
                ]
            )
        if answer_choices:
            metadata["answer_choices"] = list(answer_choices)
            metadata["gold_choice"] = gold_choice_index(answer_choices, references)
        if prompt_groups is not None:
            metadata["prompt_groups"] = list(prompt_groups)
        if chunks is not None and not isinstance(instruction, TokenizedText):
            metadata["instruction_chunks"] = len(chunks)
        fields["metadata"] = MetadataField(metadata)
        return Instance(fields)

    def _whitespace_moved(
        self,
        instruction: Optional[TokenizedText],
        source: TokenizedText,
        target: Optional[TokenizedText],
    ) -> tuple:
        """
        Instruction, source and target with each one's trailing whitespace moved to the start of
        the next (`layout.move_trailing_whitespace`), retokenized where that changed them, and
        what the answer choices begin with (the prompt's trailing whitespace).
        """
        parts = (instruction, source, target)
        prompt_texts = ["" if instruction is None else instruction.text, source.text]
        texts = layout.move_trailing_whitespace(
            prompt_texts + ["" if target is None else target.text]
        )
        moved = [
            part if part is None or part.text == text else self._tokenize(text)
            for part, text in zip(parts, texts)
        ]
        choice_prefix = layout.move_trailing_whitespace(prompt_texts + [""])[-1]
        return (*moved, choice_prefix)

    def _read(self, file_path: str) -> Iterator[Instance]:
        self.reset_counts()
        instance_count = 0
        first: Optional[Instance] = None
        for instance in self._read_instances(file_path):
            instance_count += 1
            if first is None:
                first = instance
            elif ("answer_choices" in instance.fields) != ("answer_choices" in first.fields):
                raise DataFormatError(
                    mixed_answer_choices_message(file_path, first, instance, instance_count)
                )
            yield instance
        self.log_counts(file_path, instance_count)

    def _read_instances(self, file_path: str) -> Iterator[Instance]:
        """The reader-specific part of `_read`; must shard its items with `shard_iterable`."""
        raise NotImplementedError

    def reset_counts(self) -> None:
        """
        Starts counting what is skipped or shortened afresh (each `_read`, each predictor input).
        """
        self._counts.clear()

    def log_counts(self, file_path: str, instance_count: int) -> None:
        """
        One summary per `_read` (or predictor input), so that nothing skipped or shortened goes
        unreported.
        """
        shard = self.get_worker_info()
        shard_note = (
            "" if shard is None else f" (data loader worker {shard.id} of {shard.num_workers})"
        )
        logger.info("Read %d instances from %s%s.", instance_count, file_path, shard_note)
        for what, count in sorted(self._counts.items()):
            logger.warning(
                "%s%s: %s: %d (of %d instances read)",
                file_path,
                shard_note,
                what,
                count,
                instance_count,
            )
