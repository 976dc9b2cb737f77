import logging
import random
import re
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

import torch.distributed as dist
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance, Token
from allennlp.data.tokenizers import PretrainedTransformerTokenizer

from hint_allennlp.data.dataset_readers.instruction_reader import InstructionReader, TokenizedText
from hint_allennlp.data.file_reading import (
    DataFormatError,
    decode_utf8,
    expand_file_path,
    get_string,
    has_suffix,
    iter_lines,
    iter_nonblank_lines,
    parse_json_line,
)

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".txt.gz")
JSON_LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
TEXT_DOCUMENT_UNITS = ("line", "paragraph")
# For each number of parts, the margins m_i of the split points: s_1 ~ U[1, L - m_1) and
# s_i ~ U[s_(i-1), L - m_i), integers, upper bounds excluded. 3 parts: the authors'
# `c4/c4_registry.py` (gins/pretrain.gin); 4 parts (CACLM): `c4/c4_registry_4part.py`
# (gins/pretrain_4part.gin). The margins never grow, so every range after the first is non-empty
# when the first is: L - m_1 > 1.
SPLIT_POINT_MARGINS = {3: (2, 2), 4: (4, 3, 2)}
PRETRAINING_TASK = "hypernetwork_pretraining"
# An SNI task's name (`task1146_country_capital`): a line that is one is no pretraining document.
SNI_TASK_NAME = re.compile(r"task\d+_\w+")


@DatasetReader.register("hypernetwork_pretraining")
class HypernetworkPretrainingReader(InstructionReader):
    """
    Hypernetwork pretraining over raw text. Each document is tokenized and cut into consecutive
    chunks of up to `chunk_length` pieces; each chunk t of length L is split into `parts`, each
    part followed by the tokenizer's end token (T5: `</s>`):

    - 3 parts (HINT's scheme, paper §3.3; the authors' `c4/c4_registry.py`): s1 ~ U[1, L-2),
      s2 ~ U[s1, L-2) (integers, upper bounds excluded); t[:s1] → `instruction_tokens`
      (hypernetwork), t[s1:s2] → `source_tokens` (encoder; only `</s>` when s1 == s2), t[s2:] →
      `target_tokens` (and the single reference).
    - 4 parts (CACLM, Phang et al., 2022, the paper's Table 4; the authors'
      `c4/c4_registry_4part.py`): s1 ~ U[1, L-4), s2 ~ U[s1, L-3), s3 ~ U[s2, L-2); the
      hypernetwork reads t[:s1] `</s>` t[s3:] (the text around the rest), the encoder t[s1:s2] and
      the target is t[s2:s3]. As in the authors' code, t[:s1] has at least 1 piece and t[s3:] at
      least 3, while t[s1:s2] and t[s2:s3] may be empty (then only `</s>`).

    A chunk too short to be split so (under 4 pieces for 3 parts, 6 for 4: the last one of a
    document, or a very short document) is skipped and counted; an input that makes no instance
    at all is refused, saying why, and so is a line that is an SNI task name (a split file given
    as pretraining text). The split points depend only on
    `seed`, the document (file name and line) and the chunk's position, so they are the same in
    every run and whatever the number of workers.

    `file_path` is a file, a directory or a glob pattern; files are read by their names:
    `.txt` / `.txt.gz` are plain text (documents as set by `text_document_unit`), `.jsonl`, `.json`
    and their `.gz` forms are JSON lines with the document in a `text` field (as C4 ships:
    `c4-train.00000-of-01024.json.gz`).

    # Parameters

    chunk_length : `int`, optional (default = `512`)
        The most T5 pieces in a chunk (before the end tokens are added).
    parts : `int`, optional (default = `3`)
        3 for HINT's split, 4 for CACLM's (above).
    text_document_unit : `str`, optional (default = `"line"`)
        In `.txt` files, `"line"`: every non-blank line is a document; `"paragraph"`: runs of
        non-blank lines separated by blank lines are documents.
    seed : `int`, optional (default = `0`)
        Seeds the split points.
    tokenizer, token_indexers, model_name, max_*_tokens, answer_choices, sequence_layout
        As in `InstructionReader`; the tokenizer must be a `PretrainedTransformerTokenizer`.
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`.
    """

    def __init__(
        self,
        chunk_length: int = 512,
        parts: int = 3,
        text_document_unit: str = "line",
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(self._tokenizer, PretrainedTransformerTokenizer):
            raise ConfigurationError(
                "hypernetwork_pretraining needs a pretrained_transformer tokenizer."
            )
        if parts not in SPLIT_POINT_MARGINS:
            raise ConfigurationError(
                f"parts must be one of {sorted(SPLIT_POINT_MARGINS)} "
                f"(3: HINT's pretraining, 4: CACLM), not {parts!r}."
            )
        self._margins = SPLIT_POINT_MARGINS[parts]
        self._min_chunk_pieces = self._margins[0] + 2
        if chunk_length < self._min_chunk_pieces:
            raise ConfigurationError(
                f"chunk_length must be at least {self._min_chunk_pieces} for {parts} parts."
            )
        if text_document_unit not in TEXT_DOCUMENT_UNITS:
            raise ConfigurationError(
                f"text_document_unit must be one of {TEXT_DOCUMENT_UNITS}, "
                f"not {text_document_unit!r}."
            )
        self._chunk_length = chunk_length
        self._text_document_unit = text_document_unit
        self._seed = seed

    def _read_instances(self, file_path: str) -> Iterator[Instance]:
        paths = expand_file_path(file_path, suffixes=TEXT_SUFFIXES + JSON_LINES_SUFFIXES)
        for path in paths:
            if not has_suffix(path, TEXT_SUFFIXES + JSON_LINES_SUFFIXES):
                raise ConfigurationError(
                    f"{path}: cannot tell the format from the name; expected one of "
                    f"{list(TEXT_SUFFIXES + JSON_LINES_SUFFIXES)}."
                )
        logger.info("Reading pretraining documents from %d file(s) at %s.", len(paths), file_path)
        documents = instances = 0
        # Documents are decoded and tokenized after sharding, so each process does only its share.
        for path, line_number, raw_document in self.shard_iterable(self._raw_documents(paths)):
            location = f"{path}, line {line_number}"
            if has_suffix(path, TEXT_SUFFIXES):
                text = decode_utf8(raw_document, location)
            else:
                text = get_string(
                    parse_json_line(raw_document, path, line_number), "text", location
                )
            if SNI_TASK_NAME.fullmatch(text.strip()):
                raise DataFormatError(
                    f"{location}: {text.strip()!r} is an SNI task name (a split file lists "
                    "them), not a document: hypernetwork_pretraining reads raw text (C4). Give "
                    "it text or JSON-lines documents; SNI tasks are read by the 'sni' reader."
                )
            documents += 1
            document_id = f"{path.name}:{line_number}"
            for instance in self.text_to_instances(text, document_id):  # type: ignore[arg-type]
                instances += 1
                yield instance
        if instances == 0:
            self._no_instance_made(file_path, documents)

    def _no_instance_made(self, file_path: str, documents: int) -> None:
        """
        An input that makes no instance is refused, saying why (training would otherwise end in
        a bare StopIteration); a shard of a larger input (distributed training, several data
        loader workers) only warns, as other shards may have instances.
        """
        why = (
            f"its {documents} documents are all shorter than {self._min_chunk_pieces} pieces, "
            f"the fewest that split into {len(self._margins) + 1} parts"
            + (
                " (one word or sentence per line? text_document_unit 'paragraph' reads runs of "
                "lines as one document)"
                if self._text_document_unit == "line"
                else ""
            )
            if documents
            else "it has no document (every line is blank)"
        )
        message = f"{file_path}: no pretraining instance could be made: {why}."
        sharded = self.get_worker_info() is not None or (
            dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        )
        if sharded:
            logger.warning("%s (this shard)", message)
            return
        raise DataFormatError(message)

    def _raw_documents(self, paths: Sequence[Path]) -> Iterator[Tuple[Path, int, bytes]]:
        for path in paths:
            if has_suffix(path, TEXT_SUFFIXES) and self._text_document_unit == "paragraph":
                yield from _paragraphs(path)
            else:
                yield from iter_nonblank_lines([path])

    def text_to_instances(self, text: str, document_id: str) -> Iterator[Instance]:
        """The instances of one document (one per chunk long enough to be split)."""
        pieces = self._tokenizer.tokenize(text)
        if self._ends_with_end_tokens(pieces):
            pieces = pieces[: len(pieces) - len(self._end_tokens)]
        # An empty document still makes one (empty, hence skipped and counted) chunk.
        for chunk_index, start in enumerate(range(0, max(len(pieces), 1), self._chunk_length)):
            chunk = pieces[start : start + self._chunk_length]
            if len(chunk) < self._min_chunk_pieces:
                self._counts[f"chunks shorter than {self._min_chunk_pieces} pieces skipped"] += 1
                continue
            rng = random.Random(f"{self._seed}\t{document_id}\t{chunk_index}")
            splits: List[int] = []  # s_1 ~ U[1, L - m_1), then s_i ~ U[s_(i-1), L - m_i)
            for margin in self._margins:
                splits.append(rng.randrange(splits[-1] if splits else 1, len(chunk) - margin))
            if len(splits) == 2:
                s1, s2 = splits
                instruction_pieces, target_pieces = chunk[:s1], chunk[s2:]
            else:  # CACLM: the hypernetwork reads what surrounds the encoder's part and the target
                s1, s2, s3 = splits
                instruction_pieces = chunk[:s1] + self._end_tokens + chunk[s3:]
                target_pieces = chunk[s2:s3]
            instruction = self._with_end_tokens(instruction_pieces)
            source = self._with_end_tokens(chunk[s1:s2])
            target = self._with_end_tokens(target_pieces)
            yield self._make_instance(
                source,
                instruction=instruction,
                target=target,
                references=[target.text],
                task=PRETRAINING_TASK,
                categories=[],
                instance_id=f"{document_id}#{chunk_index}",
            )

    def _with_end_tokens(self, pieces: List[Token]) -> TokenizedText:
        huggingface_tokenizer = self._tokenizer.tokenizer  # type: ignore[attr-defined]
        text = huggingface_tokenizer.convert_tokens_to_string([piece.text for piece in pieces])
        return TokenizedText(text, pieces + self._end_tokens)


def _paragraphs(path: Path) -> Iterator[Tuple[Path, int, bytes]]:
    """`(path, first_line_number, raw_paragraph)` for runs of non-blank lines."""
    first_line_number, lines = 0, []
    for line_number, raw_line in iter_lines(path):
        if raw_line.strip():
            if not lines:
                first_line_number = line_number
            lines.append(raw_line)
        elif lines:
            yield path, first_line_number, b"".join(lines)
            lines = []
    if lines:
        yield path, first_line_number, b"".join(lines)
