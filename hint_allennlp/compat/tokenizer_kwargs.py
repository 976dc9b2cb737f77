"""AllenNLP 2.10.1's pretrained-transformer tokenizer on transformers >= 4.42."""

import functools

import transformers
from allennlp.common import cached_transformers

from hint_allennlp.compat import REPAIRS, patches


def tokenizers_refuse_method_kwargs() -> bool:
    return patches.release(transformers.__version__) >= (4, 42) and not patches.is_marked(
        cached_transformers.get_tokenizer
    )


@REPAIRS.patch("AllenNLP 2.10.1 with transformers >= 4.42", needed=tokenizers_refuse_method_kwargs)
def drop_add_special_tokens_kwarg() -> None:
    """
    `PretrainedTransformerTokenizer` (and through it `PretrainedTransformerIndexer`) asks
    `cached_transformers.get_tokenizer(name, add_special_tokens=False, ...)`.
    Since transformers 4.42 a tokenizer refuses init kwargs named like its methods
    ("add_special_tokens conflicts with the method add_special_tokens in T5Tokenizer"). The kwarg
    never changed how the tokenizer is built (AllenNLP passes `add_special_tokens` per call), so it
    is dropped before it reaches HF.
    """
    get_tokenizer = cached_transformers.get_tokenizer

    @patches.mark
    @functools.wraps(get_tokenizer)
    def get_tokenizer_without_method_kwargs(model_name: str, **kwargs):
        kwargs.pop("add_special_tokens", None)
        return get_tokenizer(model_name, **kwargs)

    cached_transformers.get_tokenizer = get_tokenizer_without_method_kwargs
