import sentencepiece
from transformers import AutoConfig, AutoTokenizer, MT5ForConditionalGeneration

from hint_allennlp.testing.tiny_mt5 import SENTINELS, VOCABULARY_PIECES, build_tiny_mt5
from tests import FIXTURES_ROOT

# Words of each fixture language, Cyrillic and Greek among them.
SENTENCES = [
    "The river runs past the old mill.",
    "Grüne Äpfel hängen an den Zweigen.",
    "Столица России — Москва.",
    "Το μουσείο ανοίγει την Κυριακή.",
]


def test_an_mt5_checkpoint_with_a_vocabulary_of_its_own(tiny_mt5_checkpoint):
    config = AutoConfig.from_pretrained(tiny_mt5_checkpoint)
    assert config.model_type == "mt5"
    assert config.vocab_size == VOCABULARY_PIECES + SENTINELS
    tokenizer = AutoTokenizer.from_pretrained(tiny_mt5_checkpoint)
    assert len(tokenizer) == config.vocab_size
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    pieces = sentencepiece.SentencePieceProcessor(
        model_file=str(tiny_mt5_checkpoint / "spiece.model")
    )
    for sentence in SENTENCES:
        ids = tokenizer(sentence).input_ids
        # The fast tokenizer segments as SentencePiece does, with no unknown piece, and decodes
        # the text back as it was.
        assert ids == pieces.encode(sentence) + [tokenizer.eos_token_id]
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == sentence


def test_build_is_deterministic(tiny_mt5_checkpoint, tmp_path):
    rebuilt = build_tiny_mt5(tmp_path / "again", FIXTURES_ROOT)
    # The same pieces with the same scores (the file also records the paths it was trained from).
    vocabularies = [
        [(model.id_to_piece(index), model.get_score(index)) for index in range(len(model))]
        for model in (
            sentencepiece.SentencePieceProcessor(model_file=str(folder / "spiece.model"))
            for folder in (tiny_mt5_checkpoint, rebuilt)
        )
    ]
    assert vocabularies[0] == vocabularies[1]
    original = MT5ForConditionalGeneration.from_pretrained(tiny_mt5_checkpoint).state_dict()
    again = MT5ForConditionalGeneration.from_pretrained(rebuilt).state_dict()
    assert all(original[name].equal(again[name]) for name in original)
