"""Each fix in `hint_allennlp.compat` has a test here that fails without it."""

import pytest
import torch
from allennlp.common import cached_transformers
from allennlp.common.checks import ConfigurationError
from allennlp.data import Token
from allennlp.data.token_indexers import PretrainedTransformerIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer
from allennlp.data.vocabulary import Vocabulary
from transformers import T5ForConditionalGeneration

import hint_allennlp  # noqa: F401  (the compat fixes and the registered components)
from hint_allennlp.compat import refuse_unknown_trainer_keys
from tests import TINY_T5


def test_get_tokenizer_accepts_add_special_tokens_kwarg():
    # The exact call AllenNLP makes; transformers >= 4.42 raises AttributeError on it unpatched.
    tokenizer = cached_transformers.get_tokenizer(str(TINY_T5), add_special_tokens=False)
    assert tokenizer.eos_token == "</s>"


def test_pretrained_transformer_tokenizer_with_t5():
    tokenizer = PretrainedTransformerTokenizer(str(TINY_T5))
    tokens = tokenizer.tokenize("Translate English to German: That is good.")
    # The ids the real T5 SentencePiece model gives (fixtures/t5-tokenizer), plus </s>.
    assert [token.text_id for token in tokens] == [
        30355,
        15,
        1566,
        12,
        2968,
        10,
        466,
        19,
        207,
        5,
        1,
    ]


def test_pretrained_transformer_indexer_with_t5():
    indexer = PretrainedTransformerIndexer(str(TINY_T5))
    vocab = Vocabulary()
    indexed = indexer.tokens_to_indices(
        [Token("▁Translat", text_id=30355), Token("</s>", text_id=1)], vocab
    )
    assert indexed["token_ids"] == [30355, 1]
    # The indexer copies the T5 vocabulary into AllenNLP's, which needs the tokenizer to load.
    assert vocab.get_vocab_size("tags") > 32000


def test_generate_keeps_the_encoder_mask_of_a_padded_batch():
    # transformers 4.49 drops it (huggingface/transformers#36293): the padded example then differs.
    t5 = T5ForConditionalGeneration.from_pretrained(str(TINY_T5)).eval()
    input_ids = torch.randint(5, 1000, (2, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 6:] = 0
    with torch.no_grad():
        batch = t5.generate(
            input_ids=input_ids, attention_mask=mask, max_new_tokens=8, do_sample=False
        )
        alone = t5.generate(input_ids=input_ids[1:, :6], max_new_tokens=8, do_sample=False)
    assert batch[1, : alone.size(1)].tolist() == alone[0].tolist()


def test_trainer_keys_that_the_trainer_would_ignore_are_refused():
    # GradientDescentTrainer takes **kwargs and drops what it does not know.
    refuse_unknown_trainer_keys({"num_epochs": 2, "optimizer": {"type": "adam"}, "patience": 3})
    refuse_unknown_trainer_keys({"run_sanity_checks": False})  # the old name the kwargs are for
    with pytest.raises(ConfigurationError, match=r"\['num_epoch'\].*did you mean 'num_epochs'"):
        refuse_unknown_trainer_keys({"num_epoch": 2})
    # Other trainers refuse unknown keys themselves (or take them on purpose).
    refuse_unknown_trainer_keys({"type": "no_op", "anything": 1})
