import gzip
import json
import logging
import random

import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.data.tokenizers import PretrainedTransformerTokenizer

from hint_allennlp.data.dataset_readers import HypernetworkPretrainingReader
from hint_allennlp.data.file_reading import DataFormatError
from tests import FIXTURES_ROOT, TINY_T5, run_allennlp

PRETRAINING = FIXTURES_ROOT / "pretraining"
DOCUMENTS_TXT = PRETRAINING / "documents.txt"
DOCUMENTS_JSONL = PRETRAINING / "documents.jsonl"
C4_SAMPLE = PRETRAINING / "c4-sample.json.gz"


def make_reader(**kwargs) -> HypernetworkPretrainingReader:
    return HypernetworkPretrainingReader(model_name=str(TINY_T5), **kwargs)


def pieces(field):
    texts = [token.text for token in field.tokens]
    assert texts[-1] == "</s>"
    return texts[:-1]


def document_pieces(text):
    tokens = PretrainedTransformerTokenizer(str(TINY_T5)).tokenize(text)
    return [token.text for token in tokens[:-1]]  # without </s>


def test_chunks_are_split_into_instruction_source_and_target():
    text = json.loads(DOCUMENTS_JSONL.read_text().splitlines()[1])["text"]
    expected = document_pieces(text)
    chunk_length = 16
    instances = list(make_reader(chunk_length=chunk_length).read(str(DOCUMENTS_JSONL)))
    recipe = [i for i in instances if i["metadata"]["id"].startswith("documents.jsonl:2#")]
    # Every chunk but a tail shorter than 4 pieces becomes an instance, in order.
    assert len(recipe) == len(expected) // chunk_length + (len(expected) % chunk_length >= 4)
    for index, instance in enumerate(recipe):
        a, b, c = (
            pieces(instance[name])
            for name in ("instruction_tokens", "source_tokens", "target_tokens")
        )
        assert a + b + c == expected[index * chunk_length : (index + 1) * chunk_length]
        length = len(a) + len(b) + len(c)
        assert 1 <= len(a) < length - 2  # s1 ~ U[1, L-2)
        assert len(a) <= len(a) + len(b) < length - 2  # s2 ~ U[s1, L-2)


def test_metadata_holds_the_three_texts():
    # The notice (document 3) is one chunk; its three parts, decoded, give back its text.
    [notice] = [
        i
        for i in make_reader().read(str(DOCUMENTS_JSONL))
        if i["metadata"]["id"] == "documents.jsonl:3#0"
    ]
    metadata = notice["metadata"]
    parts = [metadata["instruction"], metadata["input"], metadata["references"][0]]
    assert (
        "".join("".join(part.split()) for part in parts)
        == "ThelibrarywillbeclosedonMondayformaintenance."
    )
    assert metadata["categories"] == [] and metadata["task"] == "hypernetwork_pretraining"


def test_split_points_are_seeded_and_reproducible():
    def splits(seed):
        return [
            (len(i["instruction_tokens"].tokens), len(i["source_tokens"].tokens))
            for i in make_reader(chunk_length=16, seed=seed).read(str(DOCUMENTS_JSONL))
        ]

    assert splits(0) == splits(0)
    assert splits(0) != splits(1)


def test_split_points_cover_the_whole_range():
    # 10 pieces: s1 in {1..7}, s2 in {s1..7}; over many chunks every value appears, none outside.
    reader = make_reader(chunk_length=10)
    seen_s1, seen_s2 = set(), set()
    for document in range(60):
        for instance in reader.text_to_instances(
            "one two three four five six seven eight nine ten", str(document)
        ):
            s1 = len(pieces(instance["instruction_tokens"]))
            seen_s1.add(s1)
            seen_s2.add(s1 + len(pieces(instance["source_tokens"])))
    assert seen_s1 == set(range(1, 8))
    assert seen_s2 == set(range(1, 8))


def test_equal_split_points_leave_the_encoder_only_the_end_token():
    # With 4 pieces, s1 = s2 = 1 is the only choice.
    [instance] = make_reader(chunk_length=4).text_to_instances("one two three four", "doc")
    assert [t.text for t in instance["source_tokens"].tokens] == ["</s>"]
    assert instance["metadata"]["input"] == ""
    assert [t.text for t in instance["instruction_tokens"].tokens] == ["▁one", "</s>"]


def test_text_lines_and_paragraphs(caplog):
    with caplog.at_level(logging.INFO):
        by_line = list(make_reader().read(str(DOCUMENTS_TXT)))
    # 6 non-blank lines; "Hi." has 2 pieces and cannot be split.
    assert [i["metadata"]["id"] for i in by_line] == [
        f"documents.txt:{n}#0" for n in (1, 2, 5, 6, 7)
    ]
    assert "chunks shorter than 4 pieces skipped: 1" in caplog.text
    by_paragraph = list(make_reader(text_document_unit="paragraph").read(str(DOCUMENTS_TXT)))
    assert [i["metadata"]["id"] for i in by_paragraph] == ["documents.txt:1#0", "documents.txt:5#0"]
    first = by_paragraph[0]
    first_paragraph = "\n".join(DOCUMENTS_TXT.read_text().splitlines()[:3])
    assert document_pieces(first_paragraph) == (
        pieces(first["instruction_tokens"])
        + pieces(first["source_tokens"])
        + pieces(first["target_tokens"])
    )


def test_gzipped_c4_json_lines_read_like_plain_json_lines():
    # Ids name the file, so the split points differ; the documents' pieces are the same.
    def joined(path):
        return [
            pieces(i["instruction_tokens"])
            + pieces(i["source_tokens"])
            + pieces(i["target_tokens"])
            for i in make_reader(chunk_length=16).read(str(path))
        ]

    from_gzip = joined(C4_SAMPLE)
    assert len(from_gzip) > 3
    assert from_gzip == joined(DOCUMENTS_JSONL)


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "bad.jsonl",
            b'{"text": "fine"}\n{"txt": "typo"}\n',
            "bad.jsonl, line 2: missing key 'text'",
        ),
        ("bad.jsonl", b'{"text": "fine"}\n{"text": \n', "bad.jsonl, line 2: malformed JSON"),
        ("bad.txt", b"fine\ncaf\xe9\n", "bad.txt, line 2: not UTF-8"),
        ("bad.json.gz", b"not gzip at all", "bad.json.gz: not a readable gzip file"),
    ],
)
def test_bad_input_names_the_file_line_and_fault(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message.replace(".", r"\.")):
        list(make_reader().read(str(path)))


def test_gzip_of_text_and_unknown_suffix(tmp_path):
    (tmp_path / "docs.txt.gz").write_bytes(gzip.compress(b"one two three four five\n"))
    assert len(list(make_reader().read(str(tmp_path / "docs.txt.gz")))) == 1
    (tmp_path / "docs.csv").write_text("one two three four five\n")
    with pytest.raises(ConfigurationError, match="cannot tell the format"):
        list(make_reader().read(str(tmp_path / "docs.csv")))


# CACLM, the 4-part split of allenai/hyper-task-descriptions `c4/c4_registry_4part.py`
# (`pack_hypertune`, used by gins/pretrain_4part.gin), on a prefix-LM segment t of length L:
#   split_point_1 ~ U[1, L - 4), split_point_2 ~ U[split_point_1, L - 3),
#   split_point_3 ~ U[split_point_2, L - 2)    (tf.random.stateless_uniform, maxval excluded)
#   hyper_inputs = t[:s1] + [1] + t[s3:],  inputs = t[s1:s2],  targets = t[s2:s3]
# where 1 is T5's EOS, and `seqio.preprocessors.append_eos` then ends each of the three in EOS.
# So t[:s1] has at least 1 piece and t[s3:] at least 3, while t[s1:s2] (s1 == s2) and t[s2:s3]
# (s2 == s3) may be empty.
TWELVE_WORDS = "one two three four five six seven eight nine eleven twelve thirteen"


def caclm_splits(instance):
    """(s1, s2, s3) and the four parts a, b, c, d of one 4-part instance."""
    hypernetwork = [token.text for token in instance["instruction_tokens"].tokens]
    assert hypernetwork.count("</s>") == 2 and hypernetwork[-1] == "</s>"
    s1 = hypernetwork.index("</s>")
    a, d = hypernetwork[:s1], hypernetwork[s1 + 1 : -1]
    b, c = pieces(instance["source_tokens"]), pieces(instance["target_tokens"])
    s2 = s1 + len(b)
    return (s1, s2, s2 + len(c)), (a, b, c, d)


def test_caclm_gives_the_hypernetwork_the_text_around_encoder_input_and_target():
    chunk = document_pieces(TWELVE_WORDS)
    assert len(chunk) == 12  # one piece per word
    reader = make_reader(chunk_length=12, parts=4)
    seen = [set(), set(), set()]
    empty_encoder_input = empty_target = False
    for document in range(3000):  # s1 = s2 = s3 = 1 has probability 1 / (7 · 8 · 9)
        [instance] = reader.text_to_instances(TWELVE_WORDS, f"doc{document}")
        (s1, s2, s3), (a, b, c, d) = caclm_splits(instance)
        # The hypernetwork: t[:s1] </s> t[s3:] </s>; the encoder: t[s1:s2] </s>; the target:
        # t[s2:s3] </s>.
        assert (a, b, c, d) == (chunk[:s1], chunk[s1:s2], chunk[s2:s3], chunk[s3:])
        assert [t.text for t in instance["source_tokens"].tokens][-1] == "</s>"
        assert [t.text for t in instance["target_tokens"].tokens][-1] == "</s>"
        assert 1 <= s1 < 12 - 4 and s1 <= s2 < 12 - 3 and s2 <= s3 < 12 - 2
        assert len(a) >= 1 and len(d) >= 3
        for values, split in zip(seen, (s1, s2, s3)):
            values.add(split)
        empty_encoder_input |= not b
        empty_target |= not c
        assert instance["metadata"]["references"] == [
            reader._tokenizer.tokenizer.convert_tokens_to_string(c)
        ]
    # Every split point takes every value its range allows, and the middle parts can be empty.
    assert seen == [set(range(1, 8)), set(range(1, 9)), set(range(1, 10))]
    assert empty_encoder_input and empty_target


def test_caclm_needs_six_pieces_and_three_parts_stay_the_default(caplog):
    reader = make_reader(chunk_length=6, parts=4)
    # L = 6: s1 = 1 (the only value in [1, 2)), s2 in [1, 3), s3 in [s2, 4).
    for document in range(20):
        [instance] = reader.text_to_instances("one two three four five six", f"doc{document}")
        (s1, s2, s3), _ = caclm_splits(instance)
        assert s1 == 1 and 1 <= s2 <= 2 and s2 <= s3 <= 3
    with caplog.at_level(logging.WARNING):
        assert list(make_reader(parts=4).read(str(DOCUMENTS_TXT)))
    assert "chunks shorter than 6 pieces skipped" in caplog.text
    # The default is HINT's 3-part split, its points drawn as they were before CACLM existed: in
    # that order from the chunk's own generator, seeded by seed, document and chunk position.
    [three_parts] = make_reader(chunk_length=12).text_to_instances(TWELVE_WORDS, "doc")
    rng = random.Random("0\tdoc\t0")
    s1 = rng.randrange(1, 10)
    s2 = rng.randrange(s1, 10)
    assert len(pieces(three_parts["instruction_tokens"])) == s1
    assert len(pieces(three_parts["source_tokens"])) == s2 - s1
    with pytest.raises(ConfigurationError, match="parts must be one of"):
        make_reader(parts=5)
    with pytest.raises(ConfigurationError, match="at least 6 for 4 parts"):
        make_reader(chunk_length=5, parts=4)


@pytest.mark.parametrize(
    "text, why",
    [
        ("\n\n   \n", "it has no document (every line is blank)"),
        ("one\nword\nper\nline\n", "its 4 documents are all shorter than 4 pieces"),
    ],
)
def test_text_that_makes_no_instance_is_refused_saying_why(text, why, tmp_path):
    """It used to end training in `generator raised StopIteration` (training/exact_resume.py)."""
    path = tmp_path / "documents.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError) as refused:
        list(make_reader().read(str(path)))
    assert str(refused.value).startswith(f"{path}: no pretraining instance could be made: {why}")
    if "word" in text:
        assert "text_document_unit 'paragraph'" in str(refused.value)


def test_an_sni_split_file_given_as_pretraining_text_is_refused(tmp_path, monkeypatch):
    """`allennlp train` used to pretrain on the list of task names."""
    split = FIXTURES_ROOT / "sni" / "splits" / "train_tasks.txt"
    first_task = split.read_text().split()[0]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataFormatError) as refused:
        run_allennlp(
            "train",
            str(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"),
            "-s",
            "run",
            "--overrides",
            json.dumps(
                {
                    "dataset_reader": {
                        "type": "hypernetwork_pretraining",
                        "model_name": str(TINY_T5),
                    },
                    "train_data_path": str(split),
                    "validation_data_path": None,
                }
            ),
        )
    assert str(refused.value).startswith(
        f"{split}, line 1: '{first_task}' is an SNI task name (a split file lists them), not a "
        "document"
    )
