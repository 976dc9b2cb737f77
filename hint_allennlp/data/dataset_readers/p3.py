import logging
import re
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance

from hint_allennlp.data.dataset_readers.instruction_reader import InstructionReader, TokenizedText
from hint_allennlp.data.file_reading import (
    DataFormatError,
    expand_file_path,
    get_string,
    get_string_list,
    iter_nonblank_lines,
    parse_json_line,
)
from hint_allennlp.data.instruction_inputs import gold_choice_index
from hint_allennlp.data.p3.few_shot import (
    FEW_SHOT_PLACEMENTS,
    MAX_INPUT_LENGTH,
    Shot,
    few_shot_chunks,
    few_shot_text,
    kept_shots,
)
from hint_allennlp.data.tk_format import INSTRUCTION_CHUNKINGS

logger = logging.getLogger(__name__)

P3_MODES = ("joint", "split", "prompt_only", "no_prompt")
# The modes whose encoder reads the instance's fields alone, and the modes without a hypernetwork.
FIELDS_ONLY_MODES = ("split", "no_prompt")
NO_INSTRUCTION_MODES = ("prompt_only", "no_prompt")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def template_field_names(template: str) -> List[str]:
    """The fields a template refers to, each once, in order of first appearance."""
    return list(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(template)))


def fill_template(template: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


@DatasetReader.register("p3")
class P3Reader(InstructionReader):
    """
    Reads P3-style prompted data (a promptsource template applied to a dataset example) from JSON
    lines, one instance per line, as `allennlp hint-p3-prepare` writes them:

        {"task": "super_glue_rte_GPT_3_style",
         "template": "{{premise}}\\nQuestion: {{hypothesis}} True or False?",
         "fields": {"premise": "...", "hypothesis": "..."},
         "answer_choices": ["True", "False"],
         "target": "True",
         "categories": ["super_glue_rte"],
         "edited_prompt": "[MASK]\\nQuestion: [MASK] True or False?"}

    Required: `template` (the prompt with `{{name}}` placeholders and no other template logic) and
    `fields` (an object of strings with a value for every placeholder). Optional: `task` (default:
    the file name without its extension), `id`, `categories` (P3: the dataset, then for ANLI the
    round: evaluation averages prompts over them, Table 10), `answer_choices` (for rank
    classification; `target` must be one of them), `target` (absent at prediction time),
    `edited_prompt` (the hypernetwork's text: the authors' hand-edited prompt or the template with
    every field as `[MASK]`, as `hint-p3-prepare` writes it), `shots` (few-shot examples, a list
    of `{"input", "target"}`).

    `file_path` is a `.jsonl` file, a directory of them, or a glob pattern. Blank lines are skipped.

    # Parameters

    mode : `str`, optional (default = `"joint"`)
        What the encoder and the hypernetwork read. The hypernetwork's text is `edited_prompt` when
        the record has one, else derived from the template as said here.
        `"joint"`: the encoder gets the full prompt (template filled with the fields), the
        hypernetwork the template with each placeholder replaced by `[name]`. `"split"`: the
        encoder gets only the field values (in template order, one per line), the hypernetwork the
        template with the placeholders removed. `"prompt_only"`: the encoder gets the full prompt
        and there is no instruction field (T0). `"no_prompt"`: the encoder gets the field values
        as in `"split"` and there is no instruction field (the paper's No Prompt).
    few_shot_placement : `str`, optional (default = `None`)
        Where a record's `shots` go, formatted as the authors do (`hint_allennlp.data.p3.few_shot`):
        `"hypernetwork"` (HINT: before the hypernetwork's text) or `"input"` (T0: before the
        encoder input). Records with shots are refused while it is not set.
    max_few_shot_input_tokens : `int`, optional (default = `960`)
        Shots are kept while their input and target tokens, summed, stay within this many tokens
        minus the tokens of the instance's full prompt (the authors' pruning, FLAN's 1,024 - 64).
        Not with `instruction_chunking`, which keeps every shot.
    num_shots : `int`, optional (default = `None`)
        Use the first this many of a record's `shots` (`None`: all), so that data prepared with
        `hint-p3-prepare --shots 64` serves every k up to 64. A record with fewer is read with
        what it has, counted with the reason in the read's summary.
    instruction_chunking : `str`, optional (default = `None`)
        Many-shot instructions past the hypernetwork's window: `None` is the authors' single
        sequence (shots pruned as `max_few_shot_input_tokens` says); `"packed"` or
        `"per_example"` give `instruction_tokens` as chunks of at most `max_instruction_tokens`
        each (`few_shot.few_shot_chunks`: each shot, then " Definition: " and the hypernetwork's
        text), no shot pruned, which the hypernetwork encodes one by one and concatenates
        (`modules/hypernetwork/instruction_chunks.py`). Modes 'joint' and 'split' only, with the
        shots (if any) in the hypernetwork (`few_shot_placement` 'hypernetwork'). The shots are
        the record's: `hint-p3-prepare` draws them from the task's train split, seeded by the
        instance, never the instance itself (`p3.preparation.ShotSampler`).
    tokenizer, token_indexers, model_name, max_*_tokens, answer_choices, sequence_layout
        As in `InstructionReader`.
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`.
    """

    def __init__(
        self,
        mode: str = "joint",
        few_shot_placement: Optional[str] = None,
        max_few_shot_input_tokens: int = MAX_INPUT_LENGTH,
        num_shots: Optional[int] = None,
        instruction_chunking: Optional[str] = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in P3_MODES:
            raise ConfigurationError(f"mode must be one of {P3_MODES}, not {mode!r}.")
        if few_shot_placement is not None and few_shot_placement not in FEW_SHOT_PLACEMENTS:
            raise ConfigurationError(
                f"few_shot_placement must be one of {FEW_SHOT_PLACEMENTS} or null, not "
                f"{few_shot_placement!r}."
            )
        if few_shot_placement == "hypernetwork" and mode in NO_INSTRUCTION_MODES:
            raise ConfigurationError(
                f"mode {mode!r} has no hypernetwork text to put few-shot examples in; use "
                "few_shot_placement 'input'."
            )
        if instruction_chunking is not None and (
            instruction_chunking not in INSTRUCTION_CHUNKINGS
            or mode in NO_INSTRUCTION_MODES
            or few_shot_placement == "input"
        ):
            raise ConfigurationError(
                f"instruction_chunking must be null or one of {INSTRUCTION_CHUNKINGS} with mode "
                "'joint' or 'split' and the shots (if any) in the hypernetwork (few_shot_placement "
                f"'hypernetwork'), not {instruction_chunking!r} with mode {mode!r} and "
                f"few_shot_placement {few_shot_placement!r}."
            )
        if num_shots is not None and num_shots < 0:
            raise ConfigurationError(f"num_shots must be 0 or more (or null), not {num_shots}.")
        self._mode = mode
        self._few_shot_placement = few_shot_placement
        self._num_shots = num_shots
        self._instruction_chunking = instruction_chunking
        self._max_few_shot_input_tokens = max_few_shot_input_tokens

    def _read_instances(self, file_path: str) -> Iterator[Instance]:
        paths = expand_file_path(file_path, suffixes=(".jsonl",))
        logger.info(
            "Reading P3-style prompts (%s mode) from %d file(s) at %s.",
            self._mode,
            len(paths),
            file_path,
        )
        for path, line_number, raw_line in self.shard_iterable(iter_nonblank_lines(paths)):
            location = f"{path}, line {line_number}"
            record = parse_json_line(raw_line, path, line_number)
            fields = record.get("fields")
            if not isinstance(fields, dict):
                raise DataFormatError(f"{location}: missing key 'fields' (an object of strings).")
            arguments = dict(
                template=get_string(record, "template", location),
                fields=fields,
                answer_choices=(
                    get_string_list(record, "answer_choices", location)
                    if "answer_choices" in record
                    else None
                ),
                target=get_string(record, "target", location, required=False),
                task=get_string(record, "task", location, required=False)
                or path.name.split(".")[0],
                categories=get_string_list(record, "categories", location),
                instance_id=get_string(record, "id", location, required=False),
                edited_prompt=get_string(record, "edited_prompt", location, required=False),
                shots=_shots(record, location) if "shots" in record else None,
            )
            try:
                instance = self.text_to_instance(**arguments)  # type: ignore[arg-type]
            except ValueError as error:
                raise DataFormatError(f"{location}: {error}") from None
            yield instance

    def text_to_instance(  # type: ignore[override]
        self,
        template: str,
        fields: Mapping[str, Any],
        answer_choices: Optional[Sequence[str]] = None,
        target: Optional[str] = None,
        task: str = "",
        categories: Optional[Sequence[str]] = None,
        instance_id: Optional[str] = None,
        edited_prompt: Optional[str] = None,
        shots: Optional[Sequence[Shot]] = None,
    ) -> Instance:
        """Raises `ValueError` when the template, fields, choices and target do not fit together."""
        field_names = template_field_names(template)
        if not field_names and self._mode in FIELDS_ONLY_MODES:
            raise ValueError(
                f"the template has no {{{{field}}}} placeholder, and {self._mode!r} mode gives the "
                "encoder the fields alone."
            )
        if "" in field_names:
            raise ValueError("the template has an empty {{}} placeholder.")
        for name in field_names:
            if name not in fields:
                raise ValueError(f"the template uses {{{{{name}}}}} but 'fields' has no {name!r}.")
            if not isinstance(fields[name], str):
                raise ValueError(
                    f"field {name!r} must be a string, found {type(fields[name]).__name__}."
                )
        references = [] if target is None else [target]
        if (
            answer_choices
            and target is not None
            and gold_choice_index(answer_choices, references) is None
        ):
            raise ValueError(
                f"the target {target!r} is not one of the answer_choices {list(answer_choices)}."
            )

        prompt = fill_template(template, fields)
        source = (
            "\n".join(fields[name] for name in field_names)
            if self._mode in FIELDS_ONLY_MODES
            else prompt
        )
        instruction = None if self._mode in NO_INSTRUCTION_MODES else edited_prompt
        if instruction is None and self._mode == "joint":
            instruction = fill_template(template, {name: f"[{name}]" for name in field_names})
        elif instruction is None and self._mode == "split":
            instruction = fill_template(template, {name: "" for name in field_names}).strip()
            if not instruction:
                raise ValueError(
                    "the template has no text besides its placeholders (empty instruction)."
                )
        if self._num_shots is not None:
            shots = self._first_shots(shots or [])
        if shots and self._few_shot_placement is None:
            raise ValueError(
                "the record has 'shots' but the reader's few_shot_placement is not set: set it to "
                "'hypernetwork' (HINT) or 'input' (T0)."
            )
        chunks: Optional[List[str]] = None
        if self._instruction_chunking is not None and instruction is not None:
            # Without shots the instruction as it is, one chunk (as unchunked).
            chunks = (
                few_shot_chunks(
                    shots,
                    instruction,
                    self._instruction_chunking,
                    self._count_tokens,
                    self._max_lengths["instruction_tokens"],
                )
                if shots
                else [instruction]
            )
        elif shots:
            source, instruction = self._with_shots(shots, prompt, source, instruction)
        instruction_part: Union[None, TokenizedText, List[TokenizedText]] = (
            [self._tokenize(chunk) for chunk in chunks]
            if chunks is not None
            else None
            if instruction is None
            else self._tokenize(instruction)
        )
        return self._make_instance(
            self._tokenize(source),
            instruction=instruction_part,
            target=None if target is None else self._tokenize(target),
            references=references,
            task=task,
            categories=categories or [],
            instance_id=instance_id,
            answer_choices=answer_choices,
            # What evaluation averages this task's prompts over (Table 10), coarse to fine.
            prompt_groups=categories or [],
        )

    def _first_shots(self, shots: Sequence[Shot]) -> Sequence[Shot]:
        """The first `num_shots` shots; a record with fewer is counted, with the reason."""
        if len(shots) < self._num_shots:  # type: ignore[operator]
            self._counts[
                f"records with fewer than num_shots={self._num_shots} few-shot examples, read with "
                f"the {len(shots)} they have (hint-p3-prepare --shots drew no more: a smaller "
                "--shots, or a task's train split with no more rows; its report names them)"
            ] += 1
        return shots[: self._num_shots]

    def _with_shots(
        self, shots: Sequence[Shot], prompt: str, source: str, instruction: Optional[str]
    ) -> tuple:
        kept = kept_shots(
            shots, self._count_pieces, self._count_pieces(prompt), self._max_few_shot_input_tokens
        )
        if len(kept) < len(shots):
            self._counts[
                f"few-shot examples pruned past max_few_shot_input_tokens = "
                f"{self._max_few_shot_input_tokens}"
            ] += len(shots) - len(kept)
        if self._few_shot_placement == "input":
            return few_shot_text(kept, source).strip(), instruction
        return source, few_shot_text(kept, instruction or "")

    def _count_pieces(self, text: str) -> int:
        """Tokens of `text` without the tokenizer's end tokens (seqio counts without EOS)."""
        tokens = self._tokenize(text).tokens  # a task's shots recur: cached
        return len(tokens) - (len(self._end_tokens) if self._ends_with_end_tokens(tokens) else 0)


def _shots(record: Mapping[str, Any], location: str) -> List[Shot]:
    shots = record["shots"]
    if not isinstance(shots, list) or not all(
        isinstance(shot, dict)
        and isinstance(shot.get("input"), str)
        and isinstance(shot.get("target"), str)
        for shot in shots
    ):
        raise DataFormatError(
            f"{location}: 'shots' must be a list of objects with string 'input' and 'target'."
        )
    return [Shot(shot["input"], shot["target"]) for shot in shots]
