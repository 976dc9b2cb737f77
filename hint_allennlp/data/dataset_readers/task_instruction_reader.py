"""
What the SNI and the instruction JSON-lines readers share: the choice of format (HINT, Tk-Instruct,
No-Instruct), the demonstrations, the seeded choice of one reference as the target, and the
`text_to_instance` that a predictor calls with `{"instruction", "input", "task"}`.
"""

import random
from typing import List, Optional, Sequence, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance

from hint_allennlp.data.dataset_readers.instruction_reader import InstructionReader, TokenizedText
from hint_allennlp.data.tk_format import (
    INSTRUCTION_CHUNKINGS,
    Demonstration,
    build_tk_instruction_chunks,
    build_tk_prompt,
    format_query,
)

INSTRUCTION_FORMATS = ("hint", "tk_instruct", "tk_instruct_prefix", "no_instruct")
# The formats whose instruction is a field of its own, which `instruction_chunking` can cut.
CHUNKED_FORMATS = ("hint", "tk_instruct_prefix")


class TaskInstructionReader(InstructionReader):
    """
    Not registered itself; see `SuperNaturalInstructionsReader` ("sni") and
    `InstructionJsonlReader` ("instruction_jsonl").

    # Parameters

    instruction_format : `str`, optional (default = `"hint"`)
        `"hint"`: the hypernetwork gets the Tk-Instruct-formatted definition and demonstrations
        (`instruction_tokens`), the encoder the raw instance input. `"tk_instruct"`: the encoder
        gets the full Tk-Instruct string (definition, demonstrations, instance input); no
        instruction field. `"tk_instruct_prefix"`: the same Tk-Instruct string in two parts, its
        instruction prefix (definition and demonstrations: what `"hint"` gives the
        hypernetwork) as `instruction_tokens` and the rest ("Now complete the following example
        -\\nInput: ...\\nOutput: ") as `source_tokens`; a decoder-only model reads them as one
        prompt and can cache the prefix's keys and values once per task. The two parts are
        tokenized separately (byte-level BPE may split their boundary differently from the
        whole string's). `"no_instruct"`: the encoder gets the raw input only; no instruction
        field.
    num_positive_examples : `int`, optional (default = `2`)
        How many positive examples (at most) follow the definition; 0 gives the 'Def' setting.
    num_negative_examples : `int`, optional (default = `0`)
        How many negative examples (at most) follow the positive ones.
    add_explanations : `bool`, optional (default = `False`)
        Add each demonstration's explanation, when it has one.
    instruction_chunking : `str`, optional (default = `None`)
        Many-shot instructions past the hypernetwork's window: `None` is the paper's single
        sequence (demonstrations that do not fit `max_instruction_tokens` are left out, counted);
        `"packed"` or `"per_example"` give `instruction_tokens` as chunks of at most
        `max_instruction_tokens` each (`tk_format.build_tk_instruction_chunks`), every
        demonstration kept, which the hypernetwork encodes one by one and concatenates
        (`modules/hypernetwork/instruction_chunks.py`; a causal LM also keeps the chunks' keys and
        values, concatenated, as its prompt's first part). "hint" and "tk_instruct_prefix"
        formats only. The SNI reader then also draws demonstrations beyond a task's positive
        examples from its instances.
    seed : `int`, optional (default = `0`)
        Seeds the choice of the target among several references. The choice depends only on the
        seed, the task and the instance (its id, or its input when it has none), so it does not
        change with the number of workers or the reading order.
    tokenizer, token_indexers, model_name, max_*_tokens, answer_choices, sequence_layout
        As in `InstructionReader`.
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`.
    """

    def __init__(
        self,
        instruction_format: str = "hint",
        num_positive_examples: int = 2,
        num_negative_examples: int = 0,
        add_explanations: bool = False,
        seed: int = 0,
        instruction_chunking: Optional[str] = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if instruction_chunking is not None and (
            instruction_chunking not in INSTRUCTION_CHUNKINGS
            or instruction_format not in CHUNKED_FORMATS
        ):
            raise ConfigurationError(
                f"instruction_chunking must be null or one of {INSTRUCTION_CHUNKINGS} with "
                f"instruction_format one of {CHUNKED_FORMATS} (the hypernetwork's input), not "
                f"{instruction_chunking!r} with {instruction_format!r}."
            )
        self._instruction_chunking = instruction_chunking
        if instruction_format not in INSTRUCTION_FORMATS:
            raise ConfigurationError(
                f"instruction_format must be one of {INSTRUCTION_FORMATS}, "
                f"not {instruction_format!r}."
            )
        if num_positive_examples < 0 or num_negative_examples < 0:
            raise ConfigurationError(
                "num_positive_examples and num_negative_examples must be >= 0."
            )
        self._instruction_format = instruction_format
        self._num_positive_examples = num_positive_examples
        self._num_negative_examples = num_negative_examples
        self._add_explanations = add_explanations
        self._seed = seed

    def text_to_instance(  # type: ignore[override]
        self,
        instruction: Optional[str],
        input: str,  # noqa: A002  (the name predictors' JSON uses)
        references: Optional[Sequence[str]] = None,
        task: str = "",
        categories: Optional[Sequence[str]] = None,
        positive_examples: Sequence[Demonstration] = (),
        negative_examples: Sequence[Demonstration] = (),
        answer_choices: Optional[Sequence[str]] = None,
        instance_id: Optional[str] = None,
    ) -> Instance:
        """
        `instruction` is the task definition (SNI's `Definition`); it may be `None` only in the
        "no_instruct" format. `references` are the acceptable outputs: all of them go to the
        metadata, one of them (chosen as described for `seed`) becomes the target; none at
        prediction time. Only the first `num_positive_examples` / `num_negative_examples`
        demonstrations are used.
        """
        references = list(references or [])
        instruction_part: Union[None, TokenizedText, List[TokenizedText]] = None
        source_text = input
        if self._instruction_format != "no_instruct":
            if instruction is None or not instruction.strip():
                raise ValueError(
                    f"Task {task!r}: the {self._instruction_format!r} format needs a non-empty "
                    "instruction."
                )
            positives = positive_examples[: self._num_positive_examples]
            negatives = negative_examples[: self._num_negative_examples]
            if self._instruction_chunking is not None:
                chunks = build_tk_instruction_chunks(
                    instruction,
                    positives,
                    negatives,
                    add_explanations=self._add_explanations,
                    chunking=self._instruction_chunking,
                    count_tokens=self._count_tokens,
                    max_tokens=self._max_lengths["instruction_tokens"],
                )
                instruction_part = [self._tokenize(chunk) for chunk in chunks]
                if self._instruction_format == "tk_instruct_prefix":
                    source_text = format_query(input)
            else:
                if self._instruction_format == "tk_instruct":
                    query_input, max_tokens = input, self._max_lengths["source_tokens"]
                else:
                    query_input, max_tokens = None, self._max_lengths["instruction_tokens"]
                prompt, left_out = build_tk_prompt(
                    instruction,
                    positives,
                    negatives,
                    add_explanations=self._add_explanations,
                    query_input=query_input,
                    count_tokens=self._count_tokens,
                    max_tokens=max_tokens,
                )
                if left_out:
                    self._counts["demonstrations left out (over the length limit)"] += left_out
                if self._instruction_format == "tk_instruct":
                    source_text = prompt
                else:
                    instruction_part = self._tokenize(prompt)
                    if self._instruction_format == "tk_instruct_prefix":
                        source_text = format_query(input)
        target = self._choose_reference(references, task, instance_id or input)
        instance = self._make_instance(
            self._tokenize(source_text),
            instruction=instruction_part,
            target=None if target is None else self._tokenize(target),
            references=references,
            task=task,
            categories=categories or [],
            instance_id=instance_id,
            answer_choices=answer_choices,
            instance_input=input,
        )
        # For the models that refuse a format (`InstructionModel.refused_instruction_formats`).
        instance["metadata"].metadata["instruction_format"] = self._instruction_format  # type: ignore[attr-defined]
        return instance

    def _choose_reference(
        self, references: List[str], task: str, instance_key: str
    ) -> Optional[str]:
        if not references:
            return None
        # A string seed is hashed with SHA-512 by `random`, so the choice is the same in every
        # process and run, whatever PYTHONHASHSEED is.
        return random.Random(f"{self._seed}\t{task}\t{instance_key}").choice(references)
