"""
The contract between the readers and the models on the tokens of each text field: which special
tokens a sequence carries and which side is padded. The readers apply it (`field_tokens`,
their `sequence_layout` setting), every instance records it in its metadata, and the models
refuse a batch read for the other layout (`check_batch_layout`).

`encoder_decoder` (`hint_seq2seq`, T5): every field is tokenized as the tokenizer makes one
sequence; T5's appends `</s>` to the instruction, the input, the target and each answer choice,
and truncation keeps it. The encoder reads `source_tokens`, the hypernetwork
`instruction_tokens`, the decoder `target_tokens`, each on its own.

`decoder_only` (`instruction_causal_lm`: GPT-2, OPT, Llama, Qwen): the prompt is
`instruction_tokens` (when there are any) followed by `source_tokens`, one sequence: the
tokenizer's start tokens (OPT's and Llama's BOS; GPT-2 and Qwen add none) begin the first prompt
field only, and no prompt field carries end tokens. The target and each answer choice continue the
prompt: their text's tokens without start or end tokens, followed by the model's EOS (which GPT-2's
and OPT's tokenizers never add), which truncation keeps. Prompt fields are truncated at their end,
as Tk-Instruct truncates its inputs.

Field boundaries, decoder-only, with a byte-level BPE tokenizer (GPT-2's, OPT's, Qwen's: one that
attaches a space to the word after it): each prompt field's trailing whitespace moves to the start
of the next field, the last prompt field's to the start of the target and of each answer choice
(`move_trailing_whitespace`). The fields' tokens, one field at a time, are then those of the whole
string: the prompt ends with `Output:` and the target begins ` Yes`, as a pretrained model read
them, not with a lone space token and `Yes`. The model decodes its continuation without that
leading whitespace.

Padding: AllenNLP's indexer pads every field on the right, in both layouts. A decoder-only model
must generate after the prompt's last token, so it moves the prompt's padding to the left itself
(and, with a cached instruction, between instruction and input: `instruction_causal_lm.py`); it
never relies on which side the padding is on, only on the mask.
"""

from typing import Any, Dict, List, Optional, Sequence

from allennlp.common.checks import ConfigurationError
from allennlp.data import Token

SEQUENCE_LAYOUTS = ("encoder_decoder", "decoder_only")
# The key of an instance's metadata that names the layout it was read in.
METADATA_KEY = "sequence_layout"
# The roles of text fields in a decoder-only sequence.
PROMPT_START, PROMPT_CONTINUATION, CONTINUATION = "prompt_start", "prompt_continuation", "target"


def check_sequence_layout(sequence_layout: str) -> None:
    if sequence_layout not in SEQUENCE_LAYOUTS:
        raise ConfigurationError(
            f"sequence_layout must be one of {SEQUENCE_LAYOUTS}, not {sequence_layout!r}."
        )


def _matches(tokens: Sequence[Token], special: Sequence[Token]) -> bool:
    return len(tokens) >= len(special) and [token.text for token in tokens] == [
        token.text for token in special
    ]


def field_tokens(
    sequence_layout: str,
    role: str,
    tokens: List[Token],
    start_tokens: Sequence[Token],
    end_tokens: Sequence[Token],
    eos_token: Optional[Token],
) -> List[Token]:
    """
    A field's tokens in `sequence_layout`, from the tokenizer's tokens of its text (which carry
    the tokenizer's `start_tokens` and `end_tokens`). `role` is where the field goes in a
    decoder-only sequence: `PROMPT_START` (the prompt's first field), `PROMPT_CONTINUATION` (a
    later prompt field) or `CONTINUATION` (the target, an answer choice); encoder-decoder fields
    keep the tokenizer's tokens whatever their role.
    """
    if sequence_layout == "encoder_decoder":
        return tokens
    if start_tokens and _matches(tokens[: len(start_tokens)], start_tokens):
        if role != PROMPT_START:
            tokens = tokens[len(start_tokens) :]
    if end_tokens and _matches(tokens[len(tokens) - len(end_tokens) :], end_tokens):
        tokens = tokens[: len(tokens) - len(end_tokens)]
    if role == CONTINUATION:
        if eos_token is None:
            raise ConfigurationError(
                "The decoder_only sequence layout ends every target with the tokenizer's EOS "
                "token, and this tokenizer has none."
            )
        tokens = tokens + [eos_token]
    return tokens


def move_trailing_whitespace(texts: Sequence[str]) -> List[str]:
    """
    Consecutive fields' texts with each one's trailing whitespace moved to the start of the next
    (the last keeps its own).
    """
    moved = list(texts)
    for index in range(len(moved) - 1):
        text = moved[index]
        kept = text.rstrip()
        moved[index], moved[index + 1] = kept, text[len(kept) :] + moved[index + 1]
    return moved


def kept_end_tokens(
    sequence_layout: str, role: str, end_tokens: Sequence[Token], eos_token: Optional[Token]
) -> List[Token]:
    """The tokens that truncation keeps at the end of a field of `role`."""
    if sequence_layout == "encoder_decoder":
        return list(end_tokens)
    return [eos_token] if role == CONTINUATION and eos_token is not None else []


def check_batch_layout(
    model_layout: str, model_type: str, metadata: Optional[Sequence[Dict[str, Any]]]
) -> None:
    """
    Refuses a batch whose instances were read in another layout than the model's (instances
    without the metadata key, e.g. built by hand, are not checked here).
    """
    if not metadata:
        return
    layouts = {meta.get(METADATA_KEY) for meta in metadata} - {None}
    wrong = sorted(layouts - {model_layout})
    if wrong:
        raise ConfigurationError(
            f"{model_type} reads sequences in the {model_layout!r} layout, but the reader made "
            f"them in the {wrong[0]!r} layout: set the dataset reader's "
            f"`sequence_layout: {model_layout!r}` (hint_allennlp/data/sequence_layout.py says "
            "what each layout puts in each field)."
        )
