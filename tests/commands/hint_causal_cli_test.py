"""
HINT on the tiny Qwen2 (grouped-query attention, q/k/v biases) through the `allennlp` CLI (in
this process), from a user's folder outside the clone: the tiny config trains on two CPU workers
(DDP) on a copy of the checkpoint, which is then deleted; the archive evaluates, predicts, and
compiles a task (`hint-compile`) whose compiled modules and keys and values predict what its
instruction predicts. (The other tiny configs build and run a batch in
tests/training_configs_test.py.)
"""

import json
import shutil

import pytest

from tests import FIXTURES_ROOT, PROJECT_ROOT, TINY_CAUSAL_LMS, run_allennlp
from tests.commands.train_test import epoch_losses

CONFIGS = PROJECT_ROOT / "training_configs"
SNI_TASK = FIXTURES_ROOT / "sni" / "tasks" / "task1146_country_capital.json"
# One epoch over 2 instances of each training task; the final model is evaluated on 2 instances
# of each test task.
SMALL = "{max_instances_per_task: 2, num_epochs: 1, max_decoding_steps: 3, eval_batch_size: 8}"


# Two CPU workers (DDP), processes on the default port: one distributed run at a time.
@pytest.mark.xdist_group("distributed")
@pytest.mark.parametrize("family", ["qwen2"])
def test_train_evaluate_predict_and_compile_from_a_user_folder(family, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the workers' (spawned processes)
    # A name per family: AllenNLP caches tokenizers by the model name it is given.
    backbone = f"my_{family}"
    shutil.copytree(TINY_CAUSAL_LMS[family], tmp_path / backbone)
    (tmp_path / "experiment.jsonnet").write_text(
        f'local hint = import "{CONFIGS / "hint.libsonnet"}";\n'
        f'(import "{CONFIGS / "tiny" / f"hint_{family}_def_2pos.jsonnet"}")'
        f"(hint.tiny_cpu + {SMALL} + {{ model_name: '{backbone}', cuda_devices: [-1, -1], "
        "batch_size: 2, examples_per_step: 8 })\n"
    )
    # The spawned workers import what --include-package names (a user folder has no
    # .allennlp_plugins). DDP's reducer fails the second step if a parameter got no gradient.
    run_allennlp("train", "experiment.jsonnet", "-s", "run", "--include-package", "hint_allennlp")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["distributed"] == {"cuda_devices": [-1, -1]}
    assert config["model"]["parameter_generator"]["type"] == "cross_attention"
    for rank in (0, 1):
        assert "Epoch 0/0" in (tmp_path / "run" / f"out_worker{rank}.log").read_text()
    assert len(epoch_losses(tmp_path / "run")) == 1
    shutil.rmtree(tmp_path / backbone)  # the archive carries the backbone's config and tokenizer

    archive = str(tmp_path / "run" / "model.tar.gz")
    run_allennlp(
        "evaluate",
        archive,
        str(FIXTURES_ROOT / "sni" / "splits" / "test_tasks.txt"),
        "--output-file",
        "metrics.json",
    )
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    # Against the baseline reading the instruction with every example (with 2 examples a task
    # and the tiny model's generator larger than its layers, HINT costs more here).
    assert {"rougeL", "exact_match", "relative_flops"} <= set(evaluated)

    run_allennlp("hint-compile", archive, str(SNI_TASK), "--output-dir", "compiled")
    assert (tmp_path / "compiled" / f"{SNI_TASK.stem}.hint.pt").is_file()
    task = json.loads(SNI_TASK.read_text())
    (tmp_path / "inputs.jsonl").write_text(
        json.dumps({"task": SNI_TASK.stem, "input": "Albania"})
        + "\n"
        + json.dumps(
            {
                "instruction": task["Definition"][0],
                "positive_examples": task["Positive Examples"],
                "input": "Albania",
            }
        )
        + "\n"
    )
    run_allennlp(
        "predict",
        archive,
        "inputs.jsonl",
        "--output-file",
        "out.jsonl",
        "--silent",
        "--predictor-args",
        json.dumps({"compiled_tasks": ["compiled"]}),
    )
    from_compiled, from_instruction = [
        json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()
    ]
    assert from_compiled["prediction"] == from_instruction["prediction"]
