"""
Makes the standard AllenNLP 2.10.1 pieces work on the stack this plugin supports (Python 3.11,
torch 2.x, transformers 4.46-4.49). AllenNLP's last release predates these versions; each fix below
names the break it repairs and is tested in `tests/compat_test.py`. Importing `hint_allennlp`
applies them all, once.
"""
import functools
import logging

from allennlp.common import cached_transformers

logger = logging.getLogger(__name__)


def _drop_add_special_tokens_kwarg() -> None:
    """
    `PretrainedTransformerTokenizer` (and through it `PretrainedTransformerIndexer`) asks
    `cached_transformers.get_tokenizer(name, add_special_tokens=False, ...)`. Since transformers 4.42
    a tokenizer refuses init kwargs named like its methods ("add_special_tokens conflicts with the
    method add_special_tokens in T5Tokenizer"). The kwarg never changed how the tokenizer is built
    (AllenNLP passes `add_special_tokens` per call), so it is dropped before it reaches HF.
    """
    get_tokenizer = cached_transformers.get_tokenizer
    if getattr(get_tokenizer, "_hint_compat", False):
        return

    @functools.wraps(get_tokenizer)
    def get_tokenizer_without_method_kwargs(model_name: str, **kwargs):
        kwargs.pop("add_special_tokens", None)
        return get_tokenizer(model_name, **kwargs)

    get_tokenizer_without_method_kwargs._hint_compat = True  # type: ignore[attr-defined]
    cached_transformers.get_tokenizer = get_tokenizer_without_method_kwargs


def apply_all() -> None:
    _drop_add_special_tokens_kwarg()


apply_all()
