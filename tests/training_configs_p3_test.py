"""
P3 end to end: the fixture rows prepared with `hint-p3-prepare`'s code, then HINT (joint and split),
T0, No Prompt and HINT with few-shot examples (Table 3), trained for a few steps on the tiny T5
through `allennlp train` and evaluated on the held-out tasks by rank classification, with Table
10's averages over prompts.
"""

import json
import sys
from pathlib import Path

import _jsonnet
import pytest
from allennlp.commands import main

from hint_allennlp.data.p3.preparation import MixturePreparation
from hint_allennlp.data.p3.t0_mixture import mixture_tasks
from tests import FIXTURES_ROOT, PROJECT_ROOT
from tests.data.p3.edited_prompts_test import EDITED_PROMPTS
from tests.training_configs_test import EXPERIMENTS, PAPER_ADAFACTOR, evaluate

CONFIGS_ROOT = PROJECT_ROOT / "training_configs"
DATASETS = FIXTURES_ROOT / "p3" / "datasets"
TRAINING = mixture_tasks(
    "t0_train", ["multi_news", "amazon_polarity"], edited_prompts=EDITED_PROMPTS
)
# Two templates of RTE and of each ANLI round (8 tasks, 16 instances), to keep the test fast.
EVALUATION = [
    task
    for task in mixture_tasks("t0_eval", ["super_glue/rte", "anli"], edited_prompts=EDITED_PROMPTS)
    if task.template.name in ("GPT-3 style", "does this imply")
]


def prepare(directory: Path, shots: int) -> Path:
    directory.mkdir()
    training = MixturePreparation(TRAINING, DATASETS, shots, seed=0)
    training.write_training(directory / "train.jsonl", num_examples=16)
    evaluation = MixturePreparation(EVALUATION, DATASETS, shots, seed=0)
    evaluation.write_evaluation(directory / "test.jsonl")
    training.close(), evaluation.close()
    return directory


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("p3")
    return {shots: prepare(root / f"{shots}_shot", shots) for shots in (0, 2)}


def train(experiment: str, data: Path, directory: Path, monkeypatch) -> dict:
    config = directory / "experiment.jsonnet"
    config.write_text(
        f'local hint = import "{CONFIGS_ROOT / "hint.libsonnet"}";\n'
        f'(import "{CONFIGS_ROOT / experiment}")(hint.tiny_cpu {{\n'
        f'  p3_train_data: "{data / "train.jsonl"}", p3_test_data: "{data / "test.jsonl"}",\n'
        "  optimizer_steps: 2, examples_per_step: 4, batch_size: 4, num_epochs: 1,\n"
        # Short sequences keep it fast (multi_news's are long).
        "  max_source_tokens: 96, max_instruction_tokens: 96, max_target_tokens: 16,\n"
        "})\n"
    )
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setattr(
        sys, "argv", ["allennlp", "train", str(config), "-s", str(directory / "run")]
    )
    main(prog="allennlp")
    return json.loads((directory / "run" / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment, shots",
    [
        ("p3/hint_joint.jsonnet", 0),
        ("p3/hint_split.jsonnet", 0),
        ("p3/t0.jsonnet", 0),
        ("p3/no_prompt.jsonnet", 0),
        ("p3/few_shot/hint_split.jsonnet", 2),
    ],
)
def test_trains_and_evaluates_by_rank_classification(
    experiment, shots, prepared, tmp_path, monkeypatch
):
    metrics = train(experiment, prepared[shots], tmp_path, monkeypatch)
    tasks = {task.name for task in EVALUATION}
    per_task = {key for key in metrics if key.startswith("test_accuracy_")}
    assert {f"test_accuracy_{name.lower()}" for name in tasks} <= per_task
    average = {
        key[len("test_prompt_averaged_accuracy_") :]: value
        for key, value in metrics.items()
        if key.startswith("test_prompt_averaged_accuracy_")
    }
    assert set(average) == {"super_glue_rte", "anli", "anli_r1", "anli_r2", "anli_r3"}
    rounds = [average[f"anli_r{r}"] for r in (1, 2, 3)]
    assert average["anli"] == pytest.approx(sum(rounds) / 3)
    rte = [metrics[f"test_accuracy_{name.lower()}"] for name in tasks if "rte" in name]
    assert average["super_glue_rte"] == pytest.approx(sum(rte) / len(rte))
    assert metrics["test_prompt_averaged_accuracy"] == pytest.approx(
        (average["super_glue_rte"] + average["anli"]) / 2
    )


# Each P3 config: (its model's generator, reader mode, few-shot placement); paper Tables 2, 3, 9.
P3_EXPERIMENTS = {
    "p3/hint_joint.jsonnet": ("cross_attention", "joint", None),
    "p3/hint_split.jsonnet": ("cross_attention", "split", None),
    "p3/t0.jsonnet": (None, "prompt_only", None),
    "p3/t0_peft.jsonnet": ("learned", "prompt_only", None),
    "p3/hypter_joint.jsonnet": ("hypter", "joint", None),
    "p3/hypter_split.jsonnet": ("hypter", "split", None),
    "p3/no_prompt.jsonnet": (None, "no_prompt", None),
    "p3/t0_replication.jsonnet": (None, "prompt_only", None),
    "p3/few_shot/hint_split.jsonnet": ("cross_attention", "split", "hypernetwork"),
    "p3/few_shot/t0.jsonnet": (None, "prompt_only", "input"),
    "p3/many_shot/hint_split.jsonnet": ("cross_attention", "split", "hypernetwork"),
}


def test_every_p3_config_is_listed():
    assert sorted(P3_EXPERIMENTS) == [e for e in EXPERIMENTS if e.startswith("p3/")]


@pytest.mark.parametrize("experiment", sorted(P3_EXPERIMENTS))
def test_p3_experiments_use_the_paper_recipe(experiment):
    config = evaluate(experiment)
    generator, mode, placement = P3_EXPERIMENTS[experiment]
    reader, trainer = config["dataset_reader"], config["trainer"]
    assert (config["model"]["parameter_generator"] or {}).get("type") == generator
    assert (reader["type"], reader["mode"], reader.get("few_shot_placement")) == (
        "p3",
        mode,
        placement,
    )
    assert config["validation_dataset_reader"] == {**reader, "answer_choices": True}
    # p3/many_shot/: 32 of the records' shots, in chunks within the window.
    many_shot = experiment.startswith("p3/many_shot/")
    assert reader.get("instruction_chunking") == ("packed" if many_shot else None)
    assert reader.get("num_shots") == (32 if many_shot else None)
    assert trainer["optimizer"] == PAPER_ADAFACTOR
    # gins/t0_train.gin: inputs 1,024, hyper_inputs 512, targets 256; 2,048 examples per step,
    # for 10,000 steps (appendix E's T0 replication: 20,000).
    assert [reader[f"max_{part}_tokens"] for part in ("instruction", "source", "target")] == [
        512,
        1024,
        256,
    ]
    steps = 20_000 if experiment == "p3/t0_replication.jsonnet" else 10_000
    batches = trainer["num_epochs"] * config["data_loader"]["batches_per_epoch"]
    assert batches * config["data_loader"]["batch_size"] == steps * 2048
    assert batches / trainer["num_gradient_accumulation_steps"] == steps


def test_a_p3_mode_must_fit_the_model():
    snippet = f"""
        local hint = import "{CONFIGS_ROOT / "hint.libsonnet"}";
        hint.p3('tk_instruct', mode='joint')
    """
    with pytest.raises(RuntimeError, match="p3 mode 'joint' does not fit model 'tk_instruct'"):
        _jsonnet.evaluate_snippet("experiment", snippet)
