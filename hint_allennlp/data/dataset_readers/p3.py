import logging
import re
from typing import Any, Iterator, List, Mapping, Optional, Sequence

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance

from hint_allennlp.data.dataset_readers.instruction_reader import InstructionReader
from hint_allennlp.data.file_reading import (
    DataFormatError,
    expand_file_path,
    get_string,
    get_string_list,
    iter_nonblank_lines,
    parse_json_line,
)
from hint_allennlp.data.instruction_inputs import gold_choice_index

logger = logging.getLogger(__name__)

P3_MODES = ("joint", "split", "prompt_only")
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
    lines, one instance per line:

        {"task": "super_glue_rte_GPT_3_style",
         "template": "{{premise}}\\nQuestion: {{hypothesis}} True or False?",
         "fields": {"premise": "...", "hypothesis": "..."},
         "answer_choices": ["True", "False"],
         "target": "True"}

    Required: `template` (text with `{{name}}` placeholders and no other template logic, so the
    conditionals of promptsource templates must be resolved when the file is written) and `fields`
    (an object of strings with a value for every placeholder). Optional: `task` (default: the file
    name without its extension), `id`, `categories`, `answer_choices` (for rank classification;
    `target` must be one of them), `target` (absent at prediction time).

    `file_path` is a `.jsonl` file, a directory of them, or a glob pattern. Blank lines are skipped.

    # Parameters

    mode : `str`, optional (default = `"joint"`)
        `"joint"`: the encoder gets the full prompt (template filled with the fields), the
        hypernetwork the template with each placeholder replaced by `[name]`. `"split"`: the
        hypernetwork gets the template with the placeholders removed, the encoder only the field
        values (in template order, one per line). `"prompt_only"`: the encoder gets the full prompt
        and there is no instruction field (T0-style baselines).
    tokenizer, token_indexers, model_name, max_*_tokens, answer_choices
        As in `InstructionReader`.
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`.
    """

    def __init__(
        self,
        mode: str = "joint",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in P3_MODES:
            raise ConfigurationError(f"mode must be one of {P3_MODES}, not {mode!r}.")
        self._mode = mode

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
    ) -> Instance:
        """Raises `ValueError` when the template, fields, choices and target do not fit together."""
        field_names = template_field_names(template)
        if not field_names:
            raise ValueError("the template has no {{field}} placeholder.")
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
        instruction: Optional[str]
        if self._mode == "joint":
            source = prompt
            instruction = fill_template(template, {name: f"[{name}]" for name in field_names})
        elif self._mode == "split":
            source = "\n".join(fields[name] for name in field_names)
            instruction = fill_template(template, {name: "" for name in field_names}).strip()
            if not instruction:
                raise ValueError(
                    "the template has no text besides its placeholders (empty instruction)."
                )
        else:
            source, instruction = prompt, None
        return self._make_instance(
            self._tokenize(source),
            instruction=None if instruction is None else self._tokenize(instruction),
            target=None if target is None else self._tokenize(target),
            references=references,
            task=task,
            categories=categories or [],
            instance_id=instance_id,
            answer_choices=answer_choices,
        )
