"""
promptsource's prompt templates without promptsource: `templates.yaml` files read with PyYAML and
rendered with jinja2 as promptsource 0.2.3's `Template.apply` renders them
(bigscience-workshop/promptsource, `promptsource/templates.py` at tag v0.2.3), and, in the same
render, which values of the example filled the prompt. What `Template.apply` does, step by step
(jinja environment, truncation, pipe escaping, answer choices, the split on `|||`):
docs/fidelity.md, "P3".

`choice` draws from the `random.Random` given to the render instead of Python's global generator,
so that a run is reproducible: `render(example, random.Random(seed))` draws what promptsource's
`apply` draws after `random.seed(seed)`.

Recording the fields: every printed expression that depends on the example (its keys, the answer
choices, or variables the template derives from them with `{% set %}` or `{% for %}`) is wrapped in
a filter that brackets its value with private-use characters, so the prompt can be written as
`{{name}}` placeholders plus the values that fill them (`Rendering.template_and_fields`). Printed
expressions that do not depend on the example, such as an instruction a template picks with
`choice` from its own list, are template text.
"""

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import jinja2
import yaml
from jinja2 import meta, nodes

# promptsource/templates.py: `TEXT_VAR_LENGTH`, `Template.pipe_protector`.
TEXT_VAR_LENGTH = 2048
PIPE_PROTECTOR = "3ed2dface8203c4c9dfb1a5dc58e41e0"
SEPARATOR = "|||"

# Bracket each printed field value: OPEN name NAME_END value CLOSE. Private-use characters, which
# an example may not contain (`render` refuses one that does).
OPEN, NAME_END, CLOSE = "\ue000", "\ue001", "\ue002"
MARKERS = (OPEN, NAME_END, CLOSE)
MARKED_FIELD = re.compile(f"{OPEN}([^{NAME_END}]*){NAME_END}([^{OPEN}{NAME_END}{CLOSE}]*){CLOSE}")
FIELD_FILTER = "_p3_field"
RANDOM_VARIABLE = "_p3_random"

# Statements whose printed output is captured instead of printed: a field inside one could not be
# located in the prompt, so templates with them are refused (promptsource 0.2.3's templates of the
# T0 datasets use none).
CAPTURING_NODES = (nodes.AssignBlock, nodes.FilterBlock, nodes.Macro, nodes.CallBlock)


class PromptTemplateError(ValueError):
    """A template that cannot be read or compiled; the message names its file and template."""


class PromptRenderError(ValueError):
    """An example that a template cannot render (what promptsource would raise on it)."""


@dataclass(frozen=True)
class PromptTemplate:
    """One `!Template` of a promptsource `templates.yaml`."""

    dataset: str
    subset: Optional[str]
    name: str
    id: str
    jinja: str
    answer_choices: Optional[str]
    original_task: Optional[bool]
    choices_in_prompt: Optional[bool]
    metrics: Tuple[str, ...]
    reference: str
    source: str  # the templates.yaml it came from, for messages


@dataclass(frozen=True)
class Segment:
    """Part of a rendered prompt: template text (`field` None) or the value of a field."""

    text: str
    field: Optional[str] = None


@dataclass(frozen=True)
class Rendering:
    """
    What a template made of one example.

    parts : `Template.apply`'s result: the rendered text split on `|||`, each part stripped.
    answer_choices : `Template.get_answer_choices_list`'s result, None without choices.
    segmented_parts : the same parts as template text and field values, None where the fields
        cannot be located in a part (a field value itself containing `|||`).
    bad_choice_indices : the values the template indexed `answer_choices` with that are not
        indices of it (a string label, or one out of range): jinja renders those as empty text.
    """

    parts: List[str]
    answer_choices: Optional[List[str]]
    segmented_parts: Optional[List[List[Segment]]] = field(default=None, compare=False)
    bad_choice_indices: List[Any] = field(default_factory=list, compare=False)

    def template_and_fields(self, part: int = 0) -> Tuple[str, Dict[str, str]]:
        """
        One part as a template with `{{name}}` placeholders and the values filling them: filling
        the template with the fields gives `parts[part]` back. A field printed twice with the same
        value is one placeholder; different values of the same name are `name`, `name_2`, ...
        Raises `PromptRenderError` if the fields cannot be located or the template text itself has
        `{{` or `}}` (the placeholders' syntax).
        """
        if self.segmented_parts is None:
            raise PromptRenderError("a field value contains '|||', so its place is unknown.")
        pieces: List[str] = []
        fields: Dict[str, str] = {}
        for segment in self.segmented_parts[part]:
            if segment.field is None:
                if "{{" in segment.text or "}}" in segment.text:
                    raise PromptRenderError(
                        f"the prompt's template text has '{{{{' or '}}}}': {segment.text!r}."
                    )
                pieces.append(segment.text)
                continue
            name, number = segment.field, 1
            while name in fields and fields[name] != segment.text:
                number += 1
                name = f"{segment.field}_{number}"
            fields[name] = segment.text
            pieces.append("{{" + name + "}}")
        return "".join(pieces), fields


def _choice(context: Any, choices: Sequence[Any]) -> Any:
    return context[RANDOM_VARIABLE].choice(choices)


def most_frequent(items: Sequence[Any]) -> Optional[List[Any]]:
    """promptsource's `most_frequent`: the items that occur most often, in first-seen order."""
    if not items:
        return None
    counts = Counter(items).most_common()
    return [item for item, count in counts if count == counts[0][1]]


def _highlight(text: str) -> str:
    return "<span style='color: #F08080'>" + text + "</span>"


def _mark_field(value: Any, name: str) -> str:
    return f"{OPEN}{name}{NAME_END}{value}{CLOSE}"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.BaseLoader())
    environment.globals.update(zip=zip)
    environment.filters.update(
        choice=jinja2.pass_context(_choice),
        most_frequent=most_frequent,
        highlight=_highlight,
        **{FIELD_FILTER: _mark_field},
    )
    return environment


ENVIRONMENT = _environment()


# --- templates.yaml --------------------------------------------------------------------------


class _TemplatesLoader(yaml.SafeLoader):
    """Reads promptsource's `!Template` and `!TemplateMetadata` objects as plain mappings."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.Node) -> Dict[str, Any]:
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_TemplatesLoader.add_constructor("!Template", _construct_mapping)
_TemplatesLoader.add_constructor("!TemplateMetadata", _construct_mapping)


def parse_templates(text: str, source: str) -> List[PromptTemplate]:
    """
    The templates of a `templates.yaml`'s text, by name as promptsource's `all_template_names`;
    `source` (where the text was read) is named in messages.
    """
    try:
        document = yaml.load(text, Loader=_TemplatesLoader)
    except yaml.YAMLError as error:
        raise PromptTemplateError(f"{source}: not a readable templates file ({error}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("templates"), dict):
        raise PromptTemplateError(f"{source}: expected a mapping with 'dataset' and 'templates'.")
    templates = []
    for key, entry in document["templates"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("jinja"), str):
            raise PromptTemplateError(f"{source}: template {key!r} has no 'jinja' string.")
        metadata = entry.get("metadata") or {}
        templates.append(
            PromptTemplate(
                dataset=document.get("dataset", ""),
                subset=document.get("subset"),
                name=str(entry.get("name", key)),
                id=str(entry.get("id", key)),
                jinja=entry["jinja"],
                answer_choices=entry.get("answer_choices"),
                original_task=metadata.get("original_task"),
                choices_in_prompt=metadata.get("choices_in_prompt"),
                metrics=tuple(metadata.get("metrics") or ()),
                reference=entry.get("reference") or "",
                source=source,
            )
        )
    return sorted(templates, key=lambda template: template.name)


# --- rendering -------------------------------------------------------------------------------


def escape_pipes(example: Mapping[str, Any]) -> Dict[str, Any]:
    """promptsource's `_escape_pipe`: `|||` in the example's top-level strings, escaped."""
    return {
        key: value.replace(SEPARATOR, PIPE_PROTECTOR) if isinstance(value, str) else value
        for key, value in example.items()
    }


def unescape_pipes(text: str) -> str:
    return text.replace(PIPE_PROTECTOR, SEPARATOR)


def truncating_source(jinja_source: str) -> str:
    """`Template.apply`'s rewrite: every printed value cut to `TEXT_VAR_LENGTH` characters."""
    return jinja_source.replace("}}", f" | string | truncate({TEXT_VAR_LENGTH}) }}}}")


class TemplateRenderer:
    """
    Renders one template on examples (dicts with the dataset's column names, `-` already turned to
    `_` as promptsource's `removeHyphen` does).

    # Parameters

    template : `PromptTemplate`
        Raises `PromptTemplateError` if its jinja does not compile or captures printed output.
    """

    def __init__(self, template: PromptTemplate) -> None:
        self.template = template
        self._source = truncating_source(template.jinja)
        self._check_compiles(self._source, "jinja")
        self._answer_choices: Optional[jinja2.Template] = None
        if template.answer_choices is not None:
            self._check_compiles(template.answer_choices, "answer_choices")
            self._answer_choices = ENVIRONMENT.from_string(template.answer_choices)
        self._by_columns: Dict[frozenset, jinja2.Template] = {}
        self.variables = _example_variables(template)

    def _describe(self) -> str:
        return f"{self.template.source}: template {self.template.name!r}"

    def _check_compiles(self, source: str, what: str) -> None:
        try:
            tree = ENVIRONMENT.parse(source)
        except jinja2.TemplateSyntaxError as error:
            raise PromptTemplateError(
                f"{self._describe()}: its {what} does not compile ({error.message}, line "
                f"{error.lineno})."
            ) from None
        for node in tree.find_all(CAPTURING_NODES):
            raise PromptTemplateError(
                f"{self._describe()}: its {what} uses {type(node).__name__}, whose output the "
                "renderer cannot locate in the prompt."
            )

    def _field_recording_template(self, columns: frozenset) -> jinja2.Template:
        """The template with each printed value that depends on the example marked as a field."""
        if columns not in self._by_columns:
            tree = ENVIRONMENT.parse(self._source)
            data_names = _data_derived_names(tree, set(columns) | {"answer_choices"})
            for output in tree.find_all(nodes.Output):
                output.nodes = [
                    _marked(child, data_names)
                    if not isinstance(child, nodes.TemplateData)
                    else child
                    for child in output.nodes
                ]
            self._by_columns[columns] = ENVIRONMENT.from_string(tree)  # type: ignore[arg-type]
        return self._by_columns[columns]

    def render(self, example: Mapping[str, Any], rng: random.Random) -> Rendering:
        """
        `Template.apply(example)` (and `get_answer_choices_list`) with `rng` behind `choice`.
        Raises `PromptRenderError` where promptsource would raise, naming the error.
        """
        if "answer_choices" in example:
            raise PromptRenderError("the example has the key 'answer_choices', which is reserved.")
        _refuse_markers(example)
        protected = escape_pipes(example)
        try:
            answer_choices = None
            if self._answer_choices is not None:
                rendered_choices = self._answer_choices.render(
                    **protected, **{RANDOM_VARIABLE: rng}
                )
                answer_choices = _IndexRecordingList(
                    unescape_pipes(choice.strip()) for choice in rendered_choices.split(SEPARATOR)
                )
            marked = self._field_recording_template(frozenset(protected)).render(
                **protected, answer_choices=answer_choices, **{RANDOM_VARIABLE: rng}
            )
        except PromptRenderError:
            raise
        except Exception as error:  # what jinja raises from a template on bad data varies
            raise PromptRenderError(f"{type(error).__name__}: {error}") from None
        plain = MARKED_FIELD.sub(lambda match: match.group(2), marked)
        parts = [unescape_pipes(part).strip() for part in plain.split(SEPARATOR)]
        bad_indices = [] if answer_choices is None else answer_choices.bad_indices
        choices = None if answer_choices is None else list(answer_choices)
        return Rendering(parts, choices, _segmented_parts(marked), bad_indices)


class _IndexRecordingList(list):
    """The answer choices as the template sees them, recording the indices that fail."""

    def __init__(self, items: Iterable[str]) -> None:
        super().__init__(items)
        self.bad_indices: List[Any] = []

    def __getitem__(self, index: Any) -> Any:
        try:
            return super().__getitem__(index)
        except (TypeError, IndexError):
            self.bad_indices.append(index)
            raise


def _example_variables(template: PromptTemplate) -> Set[str]:
    """The names a template (and its answer choices) reads from the example."""
    names: Set[str] = set()
    for source in (template.jinja, template.answer_choices):
        if source is not None:
            names |= meta.find_undeclared_variables(ENVIRONMENT.parse(source))
    return names - set(ENVIRONMENT.globals) - {"answer_choices", RANDOM_VARIABLE}


def _refuse_markers(value: Any) -> None:
    if isinstance(value, str):
        if any(marker in value for marker in MARKERS):
            raise PromptRenderError(
                "the example contains one of the private-use characters U+E000-U+E002 that the "
                "renderer marks fields with."
            )
    elif isinstance(value, Mapping):
        for item in value.values():
            _refuse_markers(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_markers(item)


def _names(node: nodes.Node, ctx: str) -> List[str]:
    """The variables `node` (itself included) loads or stores, in order of appearance."""
    found = [node, *node.find_all(nodes.Name)]
    return [name.name for name in found if isinstance(name, nodes.Name) and name.ctx == ctx]


def _data_derived_names(tree: nodes.Template, data_names: Set[str]) -> Set[str]:
    """The example's names and the template's variables computed from them, transitively."""
    assignments: List[Tuple[List[str], nodes.Node]] = [
        (_names(node.target, "store"), node.node) for node in tree.find_all(nodes.Assign)
    ] + [(_names(node.target, "store"), node.iter) for node in tree.find_all(nodes.For)]
    derived = set(data_names)
    changed = True
    while changed:
        changed = False
        for targets, expression in assignments:
            if set(targets) - derived and derived.intersection(_names(expression, "load")):
                derived.update(targets)
                changed = True
    return derived


def _marked(expression: nodes.Expr, data_names: Set[str]) -> nodes.Expr:
    used = [name for name in _names(expression, "load") if name in data_names]
    if not used:
        return expression
    return nodes.Filter(
        expression, FIELD_FILTER, [nodes.Const(used[0])], [], None, None, lineno=expression.lineno
    )


def _segmented_parts(marked: str) -> Optional[List[List[Segment]]]:
    """The marked render split and stripped as `Template.apply` does, as segments."""
    parts = []
    for raw_part in marked.split(SEPARATOR):
        segments: List[Segment] = []
        position = 0
        for match in MARKED_FIELD.finditer(raw_part):
            segments.append(Segment(raw_part[position : match.start()]))
            segments.append(Segment(match.group(2), match.group(1)))
            position = match.end()
        segments.append(Segment(raw_part[position:]))
        if any(marker in segment.text for segment in segments for marker in MARKERS):
            return None  # a field value was cut by the split
        parts.append(_strip(_unescaped(segments)))
    return parts


def _unescaped(segments: Iterable[Segment]) -> List[Segment]:
    return [Segment(unescape_pipes(segment.text), segment.field) for segment in segments]


def _strip(segments: List[Segment]) -> List[Segment]:
    """`str.strip` of the concatenation, applied to the segments (a field may lose its ends)."""
    segments = [segment for segment in segments if segment.text]
    while segments and not segments[0].text.strip():
        segments.pop(0)
    while segments and not segments[-1].text.strip():
        segments.pop()
    if segments:
        segments[0] = Segment(segments[0].text.lstrip(), segments[0].field)
        segments[-1] = Segment(segments[-1].text.rstrip(), segments[-1].field)
    return segments
