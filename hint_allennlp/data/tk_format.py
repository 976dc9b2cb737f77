"""
The Tk-Instruct prompt format (Wang et al., 2022; `src/ni_collator.py` of yizhongw/Tk-Instruct),
written once for every reader that needs it. The full prompt for an instance is

    "Definition: {definition}[.]\\n\\n"
    + for k = 1..K  " Positive Example {k} -\\nInput: {input}[.]\\n Output: {output}[.]\\n"
                    [+ " Explanation: {explanation}[.]\\n"] + "\\n"
    + for k = 1..K' " Negative Example {k} -\\nInput: {input}[.]\\n Output: {output}[.]\\n"
                    [+ " Explanation: {explanation}[.]\\n"] + "\\n"
    + "Now complete the following example -\\nInput: {x}[.]\\nOutput: "

where every text is stripped and `[.]` appends a period only when the text does not already end in
a character of `string.punctuation`. HINT gives the hypernetwork the same string without the final
"Now complete ..." part, or that part in chunks (`build_tk_instruction_chunks`).
"""

import string
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from hint_allennlp.data.file_reading import DataFormatError, get_string

# How an instruction is cut into chunks that are encoded one by one (`build_tk_instruction_chunks`).
INSTRUCTION_CHUNKINGS = ("packed", "per_example")


@dataclass(frozen=True)
class Demonstration:
    """A worked example shown with the instruction (SNI's "Positive/Negative Examples")."""

    input: str
    output: str
    explanation: Optional[str] = None

    @classmethod
    def from_json(cls, record: Any, location: str) -> "Demonstration":
        if not isinstance(record, Mapping):
            raise DataFormatError(
                f"{location}: a demonstration must be an object with input and output."
            )
        return cls(
            input=get_string(record, "input", location),  # type: ignore[arg-type]
            output=get_string(record, "output", location),  # type: ignore[arg-type]
            explanation=get_string(record, "explanation", location, required=False),
        )


def read_demonstrations(record: Mapping, key: str, location: str) -> List[Demonstration]:
    """The demonstrations listed under `key` of a JSON object (none if the key is absent)."""
    examples = record.get(key) or []
    if not isinstance(examples, list):
        raise DataFormatError(f"{location}: {key!r} must be a list.")
    return [
        Demonstration.from_json(example, f"{location}, {key}[{index}]")
        for index, example in enumerate(examples)
    ]


def with_final_period(text: str) -> str:
    """Tk-Instruct's period rule: append "." unless the text already ends in punctuation."""
    if text and text[-1] in string.punctuation:
        return text
    return text + "."


def format_definition(definition: str) -> str:
    return f"Definition: {with_final_period(definition.strip())}\n\n"


def format_demonstration(
    kind: str, number: int, demonstration: Demonstration, add_explanation: bool
) -> str:
    """`kind` is "Positive" or "Negative"; `number` counts from 1."""
    text = (
        f" {kind} Example {number} -\n"
        f"Input: {with_final_period(demonstration.input.strip())}\n"
        f" Output: {with_final_period(demonstration.output.strip())}\n"
    )
    if add_explanation and demonstration.explanation is not None:
        text += f" Explanation: {with_final_period(demonstration.explanation.strip())}\n"
    return text + "\n"


def format_query(instance_input: str) -> str:
    return (
        "Now complete the following example -\n"
        f"Input: {with_final_period(instance_input.strip())}\nOutput: "
    )


def build_tk_prompt(
    definition: str,
    positive_examples: Sequence[Demonstration],
    negative_examples: Sequence[Demonstration],
    *,
    add_explanations: bool,
    query_input: Optional[str],
    count_tokens: Callable[[str], int],
    max_tokens: int,
) -> Tuple[str, int]:
    """
    The Tk-Instruct string for a definition, demonstrations and (unless `query_input` is None) the
    instance input. Demonstrations are added in order while the whole string stays within
    `max_tokens` (as counted by `count_tokens`, i.e. with the tokenizer's EOS); as in Tk-Instruct,
    the first positive (or negative) example that does not fit ends the positive (or negative) list.
    Tk-Instruct measures with a space between earlier examples that the final string does not have;
    here the string actually produced is measured.

    Returns the prompt and how many demonstrations were left out for length.
    """
    prefix = format_definition(definition)
    suffix = "" if query_input is None else format_query(query_input)
    left_out = 0
    for kind, examples in (("Positive", positive_examples), ("Negative", negative_examples)):
        kept: List[str] = []
        for number, example in enumerate(examples, start=1):
            candidate = format_demonstration(kind, number, example, add_explanations)
            if count_tokens(prefix + "".join(kept) + candidate + suffix) > max_tokens:
                break
            kept.append(candidate)
        left_out += len(examples) - len(kept)
        prefix += "".join(kept)
    return prefix + suffix, left_out


def build_tk_instruction_chunks(
    definition: str,
    positive_examples: Sequence[Demonstration],
    negative_examples: Sequence[Demonstration],
    *,
    add_explanations: bool,
    chunking: str,
    count_tokens: Callable[[str], int],
    max_tokens: int,
) -> List[str]:
    """
    The instruction part of the Tk-Instruct string (definition and demonstrations, no query) in
    chunks that the hypernetwork encodes one by one, each within `max_tokens`. `chunking`
    "per_example": the definition, then each demonstration, a chunk each. "packed": the
    definition and the demonstrations in order, a new chunk begun where the next demonstration
    would take the current chunk past `max_tokens`; an instruction that fits is one chunk, the
    text `build_tk_prompt` gives. No demonstration is left out; one that is over `max_tokens` on
    its own is truncated (by the reader).
    """
    pieces = [format_definition(definition)] + [
        format_demonstration(kind, number, example, add_explanations)
        for kind, examples in (("Positive", positive_examples), ("Negative", negative_examples))
        for number, example in enumerate(examples, start=1)
    ]
    return cut_into_chunks(pieces, chunking, count_tokens, max_tokens)


def cut_into_chunks(
    pieces: Sequence[str], chunking: str, count_tokens: Callable[[str], int], max_tokens: int
) -> List[str]:
    """
    An instruction's pieces (the definition, each example) as chunks: "per_example" a chunk
    each; "packed" the pieces in order, a new chunk begun where the next piece would take the
    current one past `max_tokens`. The chunks joined are the pieces joined.
    """
    if chunking not in INSTRUCTION_CHUNKINGS:
        raise ValueError(f"chunking must be one of {INSTRUCTION_CHUNKINGS}, not {chunking!r}")
    if chunking == "per_example":
        return list(pieces)
    chunks = list(pieces[:1])
    for piece in pieces[1:]:
        if count_tokens(chunks[-1] + piece) <= max_tokens:
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return chunks
