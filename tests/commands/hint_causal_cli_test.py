"""
HINT on the tiny Qwen2 (grouped-query attention, q/k/v biases) through the `allennlp` CLI (in
this process), from a user's folder outside the clone: the tiny config trains (and is evaluated on
the test tasks) on a copy of the checkpoint, which is then deleted; the archive evaluates,
predicts, and compiles a task (`hint-compile`) whose compiled modules and keys and values predict
what its instruction predicts. (The other tiny configs build and run a batch in
tests/training_configs_test.py.)
"""

import json
import shutil

import pytest

from tests import FIXTURES_ROOT, PROJECT_ROOT, TINY_CAUSAL_LMS, run_allennlp

CONFIGS = PROJECT_ROOT / "training_configs"
SNI_TASK = FIXTURES_ROOT / "sni" / "tasks" / "task1146_country_capital.json"
# One epoch over 2 instances of each training task; the final model is evaluated on 2 instances
# of each test task.
SMALL = "{max_instances_per_task: 2, num_epochs: 1, max_decoding_steps: 3, eval_batch_size: 8}"


@pytest.mark.parametrize("family", ["qwen2"])
def test_train_evaluate_predict_and_compile_from_a_user_folder(family, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A name per family: AllenNLP caches tokenizers by the model name it is given.
    backbone = f"my_{family}"
    shutil.copytree(TINY_CAUSAL_LMS[family], tmp_path / backbone)
    (tmp_path / "experiment.jsonnet").write_text(
        f'local hint = import "{CONFIGS / "hint.libsonnet"}";\n'
        f'(import "{CONFIGS / "tiny" / f"hint_{family}_def_2pos.jsonnet"}")'
        f"(hint.tiny_cpu + {SMALL} + {{ model_name: '{backbone}' }})\n"
    )
    run_allennlp("train", "experiment.jsonnet", "-s", "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # Against the baseline reading the instruction with every example (with 2 examples a task
    # and the tiny model's generator larger than its layers, HINT costs more here).
    assert {"test_rougeL", "test_exact_match", "test_relative_flops"} <= set(metrics)
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
    assert evaluated["relative_flops"] == pytest.approx(metrics["test_relative_flops"])

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
