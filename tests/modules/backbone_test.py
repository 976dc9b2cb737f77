"""
Archives carry their backbone's config and tokenizer and load without `model_name`
(`hint_allennlp/modules/backbone.py`); old archives still load; a missing local `model_name` fails
at once.
"""

import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from allennlp.commands.train import train_model_from_file
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor
from huggingface_hub.constants import HF_HUB_CACHE
from transformers import AutoModelForCausalLM, T5ForConditionalGeneration

from hint_allennlp.modules import backbone
from hint_allennlp.modules.backbone import check_model_name
from tests import FIXTURES_ROOT, TINY_GPT2, TINY_T5
from tests.user_folder import PREDICT_INPUT, allennlp


@pytest.mark.slow
def test_an_archive_predicts_the_same_from_another_folder_once_its_t5_is_gone(
    run_in_a_user_folder, tmp_path
):
    run = run_in_a_user_folder
    assert not (run.folder / "my_t5").exists()  # the config's model_name, relative to that folder
    with tarfile.open(run.archive) as archive:
        names = archive.getnames()
    assert {"backbone/config.json", "backbone/tokenizer.json", "backbone/spiece.model"} <= set(
        names
    )
    # The config and tokenizer only: the weights are the archive's own.
    assert not [name for name in names if name.endswith((".safetensors", ".bin"))]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    allennlp(
        elsewhere,
        "predict",
        str(run.archive),
        str(PREDICT_INPUT),
        "--output-file",
        "predictions.jsonl",
        "--silent",
    )
    predictions = (elsewhere / "predictions.jsonl").read_text()
    assert predictions == run.predictions
    assert len(predictions.splitlines()) == len(json.loads(PREDICT_INPUT.read_text())["Instances"])


@pytest.mark.slow
def test_loading_an_archive_reads_no_pretrained_weights(trained_archive, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called")

    monkeypatch.setattr(T5ForConditionalGeneration, "from_pretrained", refuse)
    model = load_archive(trained_archive).model
    assert not model.t5.training  # in eval mode, as from_pretrained leaves it


def without_backbone(archive: Path, output: Path, **config_changes) -> Path:
    """`archive` as archives were before they carried `backbone/`, its config changed."""
    with tarfile.open(archive) as source, tarfile.open(output, "w:gz") as target:
        for member in source.getmembers():
            if member.name.startswith("backbone"):
                continue
            data = source.extractfile(member) if member.isfile() else None
            if member.name == "config.json":
                config = json.load(data)
                for path, value in config_changes.items():
                    section, key = path.split(".")
                    config[section][key] = value
                data = io.BytesIO(json.dumps(config).encode())
                member.size = len(data.getvalue())
            target.addfile(member, data)
    return output


def predictions(archive: Path) -> list:
    predictor = Predictor.from_archive(load_archive(archive), "hint_instruction")
    return predictor.predict_batch_json(json.loads(PREDICT_INPUT.read_text())["Instances"][:2])


@pytest.mark.slow
def test_a_decoder_only_archive_predicts_the_same_once_its_checkpoint_is_gone(
    tmp_path, monkeypatch
):
    checkpoint = tmp_path / "my_gpt2"
    shutil.copytree(TINY_GPT2, checkpoint)
    monkeypatch.chdir(FIXTURES_ROOT.parent)  # the fixture config's data paths
    overrides = json.dumps(
        {"dataset_reader.model_name": str(checkpoint), "model.model_name": str(checkpoint)}
    )
    train_model_from_file(
        FIXTURES_ROOT / "configs" / "instruction_causal_lm.jsonnet",
        tmp_path / "run",
        overrides=overrides,
    )
    archive = tmp_path / "run" / "model.tar.gz"
    with tarfile.open(archive) as opened:
        assert {"backbone/config.json", "backbone/tokenizer.json"} <= set(opened.getnames())
    before = predictions(archive)
    shutil.rmtree(checkpoint)

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    assert predictions(archive) == before


@pytest.mark.slow
def test_an_old_archive_loads_its_t5_from_model_name(trained_archive, tmp_path, monkeypatch):
    old = without_backbone(trained_archive, tmp_path / "old.tar.gz")
    monkeypatch.chdir(tmp_path)
    assert predictions(old) == predictions(trained_archive)


@pytest.mark.slow
def test_a_missing_local_model_name_fails_at_once_naming_the_path_and_the_folder(
    trained_archive, tmp_path
):
    # The demo's old archives named `output/demo/t5`, relative to the repository: from any other
    # folder transformers took it for a hub name and retried the network for 80 s.
    old = without_backbone(
        trained_archive,
        tmp_path / "old.tar.gz",
        **{"model.model_name": "output/demo/t5", "dataset_reader.model_name": "output/demo/t5"},
    )
    result = allennlp(tmp_path, "predict", str(old), str(PREDICT_INPUT), "--silent", check=False)
    assert result.returncode != 0
    assert (
        "ConfigurationError: model_name 'output/demo/t5' is a local path, and there is no such "
        f"folder: {tmp_path}/output/demo/t5 (a relative path is read from the working directory, "
        f"{tmp_path})"
    ) in result.stderr
    assert "huggingface.co" not in result.stderr


@pytest.mark.parametrize(
    "model_name",
    [
        "output/demo/t5",  # more than one "/": no hub name
        "./my_t5",
        "/nowhere/my_t5",
        "fixtures/no-such-t5",  # fixtures/ is there: meant as a path
    ],
)
def test_local_paths_that_do_not_exist_are_refused(model_name, tmp_path, monkeypatch):
    (tmp_path / "fixtures").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=f"model_name '{model_name}' is a local path"):
        check_model_name(model_name)


def test_folders_and_hub_names_pass(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # As where the hub answers (offline, uncached hub names are refused: below).
    monkeypatch.setattr(backbone, "hub_reachable", lambda: True)
    for variable in backbone.OFFLINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert check_model_name(str(TINY_T5)) == str(TINY_T5)
    assert check_model_name(os.path.relpath(TINY_T5)) == os.path.relpath(TINY_T5)
    for hub_name in (
        "google/t5-base-lm-adapt",
        "t5-small",
        "fixtures/tiny-t5",
    ):  # no fixtures/ here
        assert check_model_name(hub_name) == hub_name


def test_an_uncached_hub_name_fails_at_once_offline(monkeypatch, tmp_path):
    """
    `model_name: NONEXISTENT-t5` used to spend 47 s on the hub's retries before failing: with
    HF_HUB_OFFLINE set, or the hub unreachable, it is refused at once, naming the cache searched.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as refused:
        Model.from_params(
            vocab=Vocabulary(),
            params=Params({"type": "hint_seq2seq", "model_name": "NONEXISTENT-t5"}),
        )
    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert message.startswith("model_name 'NONEXISTENT-t5' is neither a local folder")
    assert f"the Hugging Face cache searched, {HF_HUB_CACHE}, and HF_HUB_OFFLINE is set" in message

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(backbone, "hub_reachable", lambda: False)
    with pytest.raises(ConfigurationError, match=r"the hub \(https://.*\) cannot be reached"):
        check_model_name("NONEXISTENT-t5")


def test_the_hub_probe_gives_up_within_its_timeout(monkeypatch):
    """Name resolution ignores socket timeouts (here: a connection that hangs for 5 s)."""
    monkeypatch.setattr(backbone.socket, "create_connection", lambda *_, **__: time.sleep(5))
    backbone.hub_reachable.cache_clear()
    started = time.monotonic()
    try:
        assert not backbone.hub_reachable(timeout=0.5)
    finally:
        backbone.hub_reachable.cache_clear()
    assert time.monotonic() - started < 1.5
