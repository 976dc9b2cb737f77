"""
A multilingual backbone through the same code: the tiny mT5 (its own SentencePiece vocabulary,
`hint_allennlp/testing/tiny_mt5.py`) trains, evaluates and predicts through the `allennlp` CLI on
a task in Russian written for this project (fixtures/multilingual/), whose text the reader keeps.
"""

import json
import shutil

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive
from transformers import AutoTokenizer

from hint_allennlp.data.dataset_readers import SuperNaturalInstructionsReader
from tests import FIXTURES_ROOT, PROJECT_ROOT, TINY_T5, run_allennlp

MULTILINGUAL_SNI = FIXTURES_ROOT / "multilingual" / "sni"
RUSSIAN_TASK = MULTILINGUAL_SNI / "tasks" / "ru_country_capital.json"
EXPERIMENT = PROJECT_ROOT / "training_configs" / "tiny" / "hint_mt5_def_2pos.jsonnet"


def test_the_reader_keeps_text_in_cyrillic_intact(tiny_mt5_checkpoint):
    reader = SuperNaturalInstructionsReader(
        model_name=str(tiny_mt5_checkpoint), english_only=False, num_positive_examples=2
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_mt5_checkpoint)
    instance = next(iter(reader.read(str(RUSSIAN_TASK))))
    metadata = instance["metadata"]
    assert metadata["input"] == "Германия" and metadata["references"] == ["Берлин"]
    assert metadata["instruction"].startswith("Definition: Дано название страны. Напишите её")
    assert "Input: Россия.\n Output: Москва." in metadata["instruction"]
    for field, text in (
        ("source_tokens", metadata["input"]),
        ("target_tokens", "Берлин"),
        ("instruction_tokens", metadata["instruction"]),
    ):
        ids = [token.text_id for token in instance[field].tokens]
        assert tokenizer.unk_token_id not in ids
        # SentencePiece's normalisation folds runs of whitespace, in any language.
        assert tokenizer.decode(ids, skip_special_tokens=True) == " ".join(text.split())


@pytest.mark.slow
def test_mt5_trains_evaluates_and_predicts_through_the_cli(
    tiny_mt5_checkpoint, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    overrides = {
        "trainer.num_epochs": 1,
        "data_loader.batches_per_epoch": 2,
        "evaluate_on_test": False,
        "model.max_decoding_steps": 2,
    }
    run_allennlp("train", str(EXPERIMENT), "-s", "run", "-o", json.dumps(overrides))
    archive = load_archive("run/model.tar.gz")
    assert archive.model.t5.config.model_type == "mt5"
    run_allennlp(
        "evaluate",
        "run/model.tar.gz",
        str(MULTILINGUAL_SNI / "splits" / "test_tasks.txt"),
        "--output-file",
        "metrics.json",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"exact_match", "rougeL", "relative_flops"} <= metrics.keys()
    run_allennlp(
        "predict",
        "run/model.tar.gz",
        str(RUSSIAN_TASK),
        "--output-file",
        "predictions.jsonl",
        "--silent",
    )
    predictions = [
        json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(predictions) == 16
    assert all(
        line["task"] == "ru_country_capital" and "prediction" in line for line in predictions
    )


def test_a_checkpoint_t5_does_not_run_is_refused_naming_its_model_type(tmp_path):
    # UMT5 has T5's weight names but a position bias in every layer, which T5's layers lack.
    checkpoint = tmp_path / "umt5"
    shutil.copytree(TINY_T5, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "model_type": "umt5"}))
    with pytest.raises(ConfigurationError, match="model_type one of .*'mt5'.* is 'umt5'"):
        Model.from_params(
            vocab=Vocabulary(),
            params=Params({"type": "hint_seq2seq", "model_name": str(checkpoint)}),
        )
