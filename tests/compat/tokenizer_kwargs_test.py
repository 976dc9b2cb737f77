from allennlp.common import cached_transformers
from allennlp.data import Token
from allennlp.data.token_indexers import PretrainedTransformerIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer
from allennlp.data.vocabulary import Vocabulary

import hint_allennlp  # noqa: F401  (the repairs applied)
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
