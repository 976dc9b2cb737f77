"""
Every experiment in training_configs/ builds with AllenNLP against the tiny checkpoint and the
fixtures: the data is read, model, data loaders and trainer are constructed, and one batch goes
through the model in training and in evaluation. No config can rot unnoticed. The paper's
hyperparameters, which the tiny setting replaces, are checked on the configs as they are.
"""

import itertools
import json
import math
import os
import re
from pathlib import Path

import _jsonnet
import pytest
import torch
from allennlp.commands.train import TrainModel
from allennlp.common import Params
from allennlp.common.params import with_overrides
from allennlp.confidence_checks.normalization_bias_verification import (
    NormalizationBiasVerification,
)
from allennlp.data import DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.training.callbacks.confidence_checks import ConfidenceChecksCallback
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from transformers import OPTConfig, OPTForCausalLM

from hint_allennlp.data.instruction_suite import build_suite, write_suite
from hint_allennlp.models.paper_variants import BACKBONES, PAPER_TABLE, PAPER_VARIANTS
from tests import PROJECT_ROOT

CONFIGS_ROOT = PROJECT_ROOT / "training_configs"
# The paper's optimiser, as every T5 recipe sets it: HF Adafactor at a constant 1e-3.
PAPER_ADAFACTOR = {
    "type": "huggingface_adafactor",
    "lr": 1e-3,
    "relative_step": False,
    "scale_parameter": True,
    "warmup_init": False,
}
LIBSONNET = CONFIGS_ROOT / "hint.libsonnet"
EXPERIMENTS = sorted(
    path.relative_to(CONFIGS_ROOT).as_posix() for path in CONFIGS_ROOT.rglob("*.jsonnet")
)
SNI_EXPERIMENTS = [name for name in EXPERIMENTS if name.startswith("sni/")]
# The decoder-only baselines of Table 1 (appendix D's recipe, not the T5 models').
DECODER_ONLY_EXPERIMENTS = {
    name: PAPER_TABLE["decoder_only_backbones"][backbone]["model_name"]
    for backbone in ("gpt2_xl", "opt_13b")
    for name in SNI_EXPERIMENTS
    if name.endswith(f"/{backbone}.jsonnet")
}
T5_SNI_EXPERIMENTS = [name for name in SNI_EXPERIMENTS if name not in DECODER_ONLY_EXPERIMENTS]


def evaluate(experiment: str, settings: str = "{}") -> dict:
    """The experiment as AllenNLP would see it, called with `settings` (jsonnet code)."""
    snippet = f"""
        local hint = import "{LIBSONNET}";
        local experiment = import "{CONFIGS_ROOT / experiment}";
        if std.isFunction(experiment) then experiment({settings}) else experiment
    """
    return json.loads(_jsonnet.evaluate_snippet("experiment", snippet))


def build_train_loop(config: dict, serialization_dir) -> TrainModel:
    """What `allennlp train` builds from `config`, in `serialization_dir`."""
    # `train_model`'s own key, which it takes before TrainModel: the archive carries the model's
    # copy of the T5's config and tokenizer.
    assert config.pop("include_in_archive") == ["backbone"]
    return TrainModel.from_params(
        params=Params(config), serialization_dir=str(serialization_dir), local_rank=0
    )


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_on_the_tiny_checkpoint(experiment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tiny setting names the fixtures from any directory
    # A few instances and decoding steps keep this fast; everything else is the config's. (The
    # first four fixture prompts are the P3 ones with answer choices and a target: see below.)
    settings = "max_decoding_steps: 2"
    if experiment.startswith("demo/"):
        # The demo's experiments read the instruction suite (`allennlp hint-make-suite`), with the
        # training tasks' held-out inputs as validation data.
        write_suite(tmp_path / "suite", build_suite(instances_per_task=4, held_out_inputs=4))
        settings += f', sni_dir: "{tmp_path / "suite"}"'
    config = evaluate(experiment, f"hint.tiny_cpu {{{settings}}}")
    readers = [key for key in ("dataset_reader", "validation_dataset_reader") if key in config]
    train_loop = build_train_loop(
        with_overrides(config, {f"{reader}.max_instances": 4 for reader in readers}), tmp_path
    )
    model = train_loop.model

    model.train()
    batch = next(iter(train_loop.trainer.data_loader))
    if any(isinstance(c, ConfidenceChecksCallback) for c in train_loop.trainer._callbacks):
        # What the trainer checks on its first batch, where it would stop `allennlp train`.
        assert NormalizationBiasVerification(model).check(batch), experiment
    loss = model(**batch)["loss"]
    assert torch.isfinite(loss)
    loss.backward()

    if train_loop.evaluation_data_loader is not None:
        model.eval()
        with torch.no_grad():
            output = model(**next(iter(train_loop.evaluation_data_loader)))
        assert len(output["predicted_text"]) > 0
        metrics = model.get_metrics(reset=True)
        assert "relative_flops" in metrics
        assert ("accuracy" if experiment.startswith("p3/") else "rougeL") in metrics


@pytest.mark.parametrize("working_directory", ["user_folder", "config_folder"])
def test_the_tiny_and_demo_configs_name_the_repository_s_files_from_any_directory(
    working_directory, tmp_path, monkeypatch
):
    # AllenNLP reads a config by the path it is given; the configs name their files relative to it.
    experiments = {
        CONFIGS_ROOT / "tiny" / "hint_def_2pos.jsonnet": PROJECT_ROOT / "fixtures",
        PROJECT_ROOT / "fixtures" / "configs" / "hint_seq2seq.jsonnet": PROJECT_ROOT / "fixtures",
        CONFIGS_ROOT / "demo" / "hint.jsonnet": PROJECT_ROOT / "output" / "demo",
    }
    for experiment, files_root in experiments.items():
        folder = tmp_path if working_directory == "user_folder" else experiment.parent
        monkeypatch.chdir(folder)
        config = Params.from_file(os.path.relpath(experiment, folder)).as_dict()
        for path in (
            config["model"]["model_name"],
            config["dataset_reader"]["model_name"],
            config["dataset_reader"]["tasks_dir"],
            config["train_data_path"],
        ):
            # Relative, as given, and folded: `..` only at the start.
            steps = path.split("/")
            ups = len(steps) - len(list(itertools.dropwhile(lambda step: step == "..", steps)))
            assert not os.path.isabs(path) and "." not in steps and ".." not in steps[ups:], path
            assert Path(path).resolve().is_relative_to(files_root), (experiment, path)
            if files_root.name == "fixtures":
                assert Path(path).exists(), (experiment, path)


def test_defaults_evaluate_through_allennlp():
    # AllenNLP calls an experiment's top-level function with its default settings.
    params = Params.from_file(str(CONFIGS_ROOT / "sni/def/hint.jsonnet"))
    assert params["model"]["model_name"] == "google/t5-base-lm-adapt"


@pytest.mark.parametrize("experiment", T5_SNI_EXPERIMENTS)
def test_sni_experiments_use_the_paper_recipe(experiment):
    config = evaluate(experiment)
    reader, trainer = config["dataset_reader"], config["trainer"]
    assert trainer["optimizer"] == PAPER_ADAFACTOR
    assert [reader[f"max_{part}_tokens"] for part in ("instruction", "source", "target")] == [
        1024,
        1024,
        256,
    ]
    assert reader["max_instances_per_task"] == 100
    # sni/def/ is 'Def'; sni/def_<k>pos/ 'Def + k Pos.'; sni/many_shot/ 32 shots, in chunks
    setting = experiment.split("/")[1]
    named = {"def": 0, "many_shot": 32}
    shots = named[setting] if setting in named else int(setting[4:-3])
    assert reader["num_positive_examples"] == shots
    assert reader.get("instruction_chunking") == ("packed" if setting == "many_shot" else None)
    # 1,000 optimizer steps of 1,024 examples, in checkpointed epochs.
    batches = trainer["num_epochs"] * config["data_loader"]["batches_per_epoch"]
    examples_per_batch = config["data_loader"]["batch_size"]
    assert batches * examples_per_batch == 1000 * 1024
    assert batches / trainer["num_gradient_accumulation_steps"] == 1000
    assert config["evaluate_on_test"] and "validation_data_path" not in config


@pytest.mark.parametrize("experiment", sorted(DECODER_ONLY_EXPERIMENTS))
def test_decoder_only_experiments_use_appendix_d(experiment):
    """
    Paper appendix D: full finetuning, AdamW, linear warmup (1,000 steps) and decay, batch 32,
    learning rate of {1e-5, 2e-5, 5e-5} (2e-5 here), {3, 5, 10} epochs (5 here); the loss over the
    target and EOS is the model's (tests/models/instruction_causal_lm_test.py).
    """
    config = evaluate(experiment)
    reader, trainer, model = config["dataset_reader"], config["trainer"], config["model"]
    assert model["type"] == "instruction_causal_lm"
    assert model["model_name"] == reader["model_name"] == DECODER_ONLY_EXPERIMENTS[experiment]
    assert (reader["instruction_format"], reader["sequence_layout"]) == (
        "tk_instruct_prefix",
        "decoder_only",
    )
    assert reader["num_positive_examples"] == (2 if experiment.startswith("sni/def_2pos/") else 0)
    assert trainer["optimizer"]["type"] == "adamw" and trainer["optimizer"]["lr"] == 2e-5
    assert trainer["learning_rate_scheduler"] == {
        "type": "linear_with_warmup",
        "warmup_steps": 1000,
    }
    # HF Trainer's clipping of the gradient norm, which the authors' decoder-only runs used.
    assert trainer["grad_norm"] == 1.0
    assert trainer["num_epochs"] == 5 and "batches_per_epoch" not in config["data_loader"]
    devices = len(config.get("distributed", {}).get("cuda_devices", [None]))
    examples_per_step = (
        config["data_loader"]["batch_size"] * trainer["num_gradient_accumulation_steps"] * devices
    )
    assert examples_per_step == 32
    # bf16 and HF's gradient checkpointing; OPT-13B sharded with FSDP2 over 8 devices.
    assert model["mixed_precision"] == "bf16" and model["gradient_checkpointing"]
    assert devices == (8 if "opt_13b" in experiment else 1)
    # The prompt and the target fit GPT-2's 1,024 and OPT's 2,048 positions.
    positions = 1024 if "gpt2" in experiment else 2048
    assert (
        sum(reader[f"max_{part}_tokens"] for part in ("instruction", "source", "target"))
        == positions
    )
    assert model["max_decoding_steps"] == reader["max_target_tokens"]
    # Under several devices the final model is evaluated afterwards (`final_evaluation`).
    assert config["evaluate_on_test"] == (devices == 1) and "validation_data_path" not in config


@pytest.mark.parametrize("experiment", ["sni/def/opt_13b.jsonnet", "sni/def_2pos/hint.jsonnet"])
def test_fsdp_backbones_are_sharded_or_refused(experiment):
    """
    OPT-13B and T5-XXL default to FSDP over 8 devices; on one device `fsdp` is refused, not
    ignored (it would train the whole model, its gradients and optimizer state on that device).
    """
    backbone = "" if "opt_13b" in experiment else 'backbone: "xxl",'
    config = evaluate(experiment, f"{{{backbone}}}")
    assert config["distributed"] == {
        "cuda_devices": list(range(8)),
        "ddp_accelerator": {"type": "torch_fsdp"},
    }
    config = evaluate(experiment, f"{{{backbone} cuda_devices: [0, 1, 2, 3], batch_size: 4}}")
    assert config["distributed"]["ddp_accelerator"] == {"type": "torch_fsdp"}
    if "opt_13b" in experiment:
        assert config["trainer"]["optimizer"]["type"] == "adamw"
        assert config["trainer"]["num_gradient_accumulation_steps"] == 2  # 4 x 4 x 2 = 32
    with pytest.raises(RuntimeError, match="fsdp shards over several devices"):
        evaluate(experiment, f"{{{backbone} cuda_devices: [0]}}")
    assert "distributed" not in evaluate(
        experiment, f"{{{backbone} cuda_devices: [0], fsdp: false}}"
    )


# Generated adapter bottleneck and prefix length per backbone (the authors' configs).
BACKBONE_MODULE_SIZES = {
    "small": (8, 7),
    "base": (64, 30),
    "large": (8, 7),
    "xl": (512, 30),
    "xxl": (512, 30),
}


@pytest.mark.parametrize("backbone", BACKBONE_MODULE_SIZES)
def test_backbone_sets_checkpoint_and_module_sizes(backbone):
    model = evaluate("sni/def/hint.jsonnet", f'{{backbone: "{backbone}"}}')["model"]
    assert model["model_name"] == f"google/t5-{backbone}-lm-adapt"
    assert (model["peft"]["adapter_size"], model["peft"]["prefix_length"]) == BACKBONE_MODULE_SIZES[
        backbone
    ]


def test_devices_keep_the_examples_per_step():
    config = evaluate(
        "sni/def/hint.jsonnet", "{cuda_devices: [0, 1, 2, 3], batch_size: 4, fsdp: true}"
    )
    assert config["distributed"] == {
        "cuda_devices": [0, 1, 2, 3],
        "ddp_accelerator": {"type": "torch_fsdp"},
    }
    assert config["trainer"]["optimizer"]["type"] == "sharded_adafactor"
    assert "cuda_device" not in config["trainer"]
    # 4 devices x 4 examples x 64 accumulated batches = 1,024 examples per step.
    assert config["trainer"]["num_gradient_accumulation_steps"] == 64


def test_nodes_keep_the_examples_per_step_and_name_the_primary():
    settings = (
        "{cuda_devices: [0, 1, 2, 3, 4, 5, 6, 7], batch_size: 4, num_nodes: 2, "
        "primary_address: '10.0.0.1', primary_port: 29500}"
    )
    config = evaluate("sni/def/hint.jsonnet", settings)
    assert config["distributed"] == {
        "cuda_devices": [0, 1, 2, 3, 4, 5, 6, 7],
        "num_nodes": 2,
        "primary_address": "10.0.0.1",
        "primary_port": 29500,
    }
    # 2 nodes x 8 devices x 4 examples x 16 accumulated batches = 1,024 examples per step.
    assert config["trainer"]["num_gradient_accumulation_steps"] == 16
    assert config["evaluate_on_test"] is False
    # One device on each of two nodes is distributed too.
    single_devices = evaluate(
        "sni/def/hint.jsonnet", "{cuda_devices: [0], num_nodes: 2, primary_port: 29500}"
    )
    assert single_devices["distributed"]["num_nodes"] == 2
    assert "cuda_device" not in single_devices["trainer"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ("{backbon: 'xl'}", "Unknown settings"),
        ("{batch_size: 3}", "must be a multiple of batch_size x devices"),
        ("{num_epochs: 3}", "must be a multiple of num_epochs"),
        ("{num_nodes: 2}", "needs primary_port"),
        ("{tasks_per_batch: 3}", "must be a multiple of tasks_per_batch"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(RuntimeError, match=message):
        evaluate("sni/def/hint.jsonnet", settings)


def test_the_decoder_only_recipe_refuses_the_t5s_dropout_setting():
    with pytest.raises(RuntimeError, match="dropout is a setting of the T5 recipes"):
        evaluate("sni/def/gpt2_xl.jsonnet", "{dropout: 0.0}")


def test_sni_model_starts_from_pretrained_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    pretrained = Model.from_params(
        vocab=Vocabulary.empty(),
        params=Params(evaluate("pretraining/hint_c4.jsonnet", "hint.tiny_cpu")["model"]),
    )
    with (
        torch.no_grad()
    ):  # so that no weight matches the checkpoint's or a fresh initialisation by chance
        for parameter in pretrained.parameters():
            parameter.add_(1.0)
    weights = tmp_path / "best.th"
    torch.save(pretrained.state_dict(), weights)
    settings = f'hint.tiny_cpu {{pretrained_weights: "{weights}"}}'
    finetuned = Model.from_params(
        vocab=Vocabulary.empty(),
        params=Params(evaluate("sni/def_2pos/hint.jsonnet", settings)["model"]),
    )
    pretrained_weights = pretrained.state_dict()
    for name, parameter in finetuned.named_parameters():
        assert torch.equal(parameter, pretrained_weights[name]), name


@pytest.mark.slow
def test_p3_trains_on_tasks_with_and_without_answer_choices(tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    config = evaluate(
        "p3/hint_joint.jsonnet", "hint.tiny_cpu {batch_size: 8, examples_per_step: 8}"
    )
    # The first five fixture prompts: four with answer choices, one generation task without.
    train_loop = build_train_loop(
        with_overrides(config, {"dataset_reader.max_instances": 5}), tmp_path
    )
    train_loop.model.train()
    assert torch.isfinite(train_loop.model(**next(iter(train_loop.trainer.data_loader)))["loss"])


@pytest.mark.parametrize(
    "experiment", ["sni/def_2pos/hint.jsonnet", "sni/def/gpt2_xl.jsonnet", "p3/hint_split.jsonnet"]
)
def test_tasks_per_batch_groups_every_recipe_s_batches(experiment, tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    default = evaluate(experiment, "hint.tiny_cpu")["data_loader"]
    assert default["batch_size"] == 8 and default["shuffle"] and "batch_sampler" not in default
    config = evaluate(experiment, "hint.tiny_cpu {tasks_per_batch: 2, batch_size: 4}")
    assert config["data_loader"]["batch_sampler"] == {
        "type": "task_grouped",
        "tasks_per_batch": 2,
        "examples_per_task": 2,
    }
    assert not {"batch_size", "shuffle"} & config["data_loader"].keys()
    # (The first five fixture prompts of P3 all have a target.)
    data_loader = build_train_loop(
        with_overrides(config, {"dataset_reader.max_instances": 5}), tmp_path
    ).trainer.data_loader
    tasks = [meta["task"] for meta in next(iter(data_loader))["metadata"]]
    assert len(tasks) == 4 and len(set(tasks)) <= 2


def test_pretraining_runs_without_dropout():
    """allenai/hyper-task-descriptions, gins/pretrain.gin: `DROPOUT_RATE = 0.0`."""
    assert evaluate("pretraining/hint_c4.jsonnet")["model"]["dropout"] == 0.0
    assert (
        "dropout" not in evaluate("sni/def/hint.jsonnet")["model"]
    )  # finetuning: the checkpoint's 0.1


def test_table5_lora_config():
    """
    scripts/nat_int/ni_train_only_lora_no_fid{_smaller,}.sh of the reference: no fusion, LoRA only,
    `lora_ranks="(128,None,128,None)"` / `"(512,None,512,None)"`.
    """
    for experiment, rank in (
        ("hint_without_fusion_lora", 128),
        ("hint_without_fusion_lora_512", 512),
    ):
        model = evaluate(f"sni/def/{experiment}.jsonnet")["model"]
        assert model["instruction_fusion"] is False
        assert model["peft"] == {
            "use_adapters": False,
            "use_prefixes": False,
            "use_lora": True,
            "lora_rank": rank,
        }


def test_the_shot_sweep_has_every_count_for_hint_and_tk_instruct():
    """The paper's Figure 3 (centre): 'Def + k Pos.' for k = 0 ... 5."""
    for k in range(6):
        folder = "def" if k == 0 else f"def_{k}pos"
        for model, instruction_format in (("hint", "hint"), ("tk_instruct", "tk_instruct")):
            reader = evaluate(f"sni/{folder}/{model}.jsonnet")["dataset_reader"]
            assert (reader["num_positive_examples"], reader["instruction_format"]) == (
                k,
                instruction_format,
            )


PRETRAINING_EXPERIMENTS = [name for name in EXPERIMENTS if name.startswith("pretraining/")]


@pytest.mark.parametrize("experiment", PRETRAINING_EXPERIMENTS)
def test_pretraining_experiments_use_the_papers_recipe(experiment):
    """
    gins/pretrain.gin and gins/pretrain_4part.gin: `TASK_FEATURE_LENGTHS` 512 for inputs,
    hyper_inputs and targets, `DROPOUT_RATE = 0.0`; 10,000 steps of 1,024 (Tables 4 and 6). CACLM's
    configs split in 4 parts (c4/c4_registry_4part.py), the others in 3 (c4/c4_registry.py).
    """
    config = evaluate(experiment)
    reader = config["dataset_reader"]
    assert reader["parts"] == (4 if experiment.endswith("_caclm.jsonnet") else 3)
    assert reader["chunk_length"] == 512
    assert [reader[f"max_{part}_tokens"] for part in ("instruction", "source", "target")] == [
        512,
        512,
        512,
    ]
    assert config["model"]["dropout"] == 0.0
    batches = config["trainer"]["num_epochs"] * config["data_loader"]["batches_per_epoch"]
    assert batches * config["data_loader"]["batch_size"] == 10000 * 1024
    # Each pretrains the model its SNI config finetunes: the same hint_seq2seq keys.
    finetuned = experiment.replace("pretraining/", "sni/def/").replace("_c4", "")
    finetuned = finetuned.replace("_caclm", "")
    sni_model = evaluate(finetuned)["model"]
    assert {
        k: v for k, v in config["model"].items() if k not in ("dropout", "max_decoding_steps")
    } == {k: v for k, v in sni_model.items() if k != "max_decoding_steps"}


def test_hypertune_is_run_as_the_authors_ran_it():
    """
    scripts/nat_int/ni_train_htune.sh and scripts/pretraining/pretrain_htune.sh: gins/hypertune.gin
    (`layer_embedding_method = "decoder"`, prefixes only, no fusion; with it `Hypernet.setup` builds
    a separate `hyper_encoder`, restored from the T5 encoder by hypertune.gin's assignment map) and
    gins/train_only_hnet.gin; the pretraining is CACLM's (gins/pretrain_4part.gin).
    """
    for experiment in ("sni/def/hypertune.jsonnet", "sni/def_2pos/hypertune.jsonnet"):
        model = evaluate(experiment)["model"]
        assert model["parameter_generator"] == {"type": "hypertune"}
        assert model["separate_instruction_encoder"] and model["train_only_hypernetwork"]
        assert model["instruction_fusion"] is False
        assert model["peft"] == {"prefix_length": 30, "use_adapters": False}
    assert evaluate("pretraining/hypertune_caclm.jsonnet")["dataset_reader"]["parts"] == 4
    # The setting turns the freezing off (or on for any other model).
    assert not evaluate("sni/def/hypertune.jsonnet", "{train_only_hypernetwork: false}")["model"][
        "train_only_hypernetwork"
    ]
    assert evaluate("sni/def/hint.jsonnet", "{train_only_hypernetwork: true}")["model"][
        "train_only_hypernetwork"
    ]


def test_table6_decoder_row_is_hint_with_the_decoder_generator():
    """
    gins/hypertune_embed.gin and hypertune_full_train.gin (scripts/nat_int/
    ni_train_pretrained_our_decoder.sh, scripts/pretraining/pretrain_our_decoder.sh):
    `layer_embedding_method = "decoder"`, `per_layer_hnet = True`, `use_fusion_in_decoder = True`,
    prefixes only; every parameter trains.
    """
    model = evaluate("sni/def/hint_decoder_generator.jsonnet")["model"]
    assert model["parameter_generator"] == {"type": "hypertune", "all_slots_at_once": True}
    assert model["instruction_fusion"] is True
    assert model["peft"] == {"prefix_length": 30, "use_adapters": False}
    assert "train_only_hypernetwork" not in model and "separate_instruction_encoder" not in model


def test_table5_single_module_configs():
    """
    scripts/nat_int/ni_train_only_adapter_no_fid.sh (`use_prefix=False`),
    ni_train_only_prefix_no_fid.sh (`use_adapter=False`), ni_train_pretrained_just_prefix.sh
    (`num_prefix_tokens=512`), all with `use_fusion_in_decoder=False`, on T5-XL (a = 512, P = 30).
    """
    expected = {
        "hint_without_fusion_adapters": {"adapter_size": 512, "use_prefixes": False},
        "hint_without_fusion_prefixes": {"prefix_length": 30, "use_adapters": False},
        "hint_without_fusion_prefixes_512": {"prefix_length": 512, "use_adapters": False},
    }
    for name, peft in expected.items():
        model = evaluate(f"sni/def/{name}.jsonnet", "{backbone: 'xl'}")["model"]
        assert model["instruction_fusion"] is False
        assert model["parameter_generator"] == {"type": "cross_attention"}
        assert model["peft"] == peft


def test_docs_fidelity_lists_every_sni_and_pretraining_experiment():
    """docs/fidelity.md's table of the paper's rows names configs that exist, and all of them."""
    text = (PROJECT_ROOT / "docs" / "fidelity.md").read_text()
    rows = text[text.index("## Every row of the paper") : text.index("## What is left alone")]
    named = set(re.findall(r"`((?:sni|pretraining)/[\w/]+\.jsonnet)`", rows))
    assert named <= set(EXPERIMENTS), sorted(named - set(EXPERIMENTS))
    paper_experiments = {name for name in EXPERIMENTS if name.startswith(("sni/", "pretraining/"))}
    assert paper_experiments <= named, sorted(paper_experiments - named)


@pytest.mark.parametrize("variant", PAPER_VARIANTS.values(), ids=list(PAPER_VARIANTS))
def test_every_model_of_the_paper_has_its_def_config(variant):
    """Each variant of paper_variants.json runs as `sni/def/<its name>.jsonnet`."""
    config = evaluate(f"sni/def/{variant.name}.jsonnet")
    arguments = variant.model_arguments(**BACKBONES["base"].module_sizes())
    assert {key: config["model"].get(key) for key in arguments} == arguments
    assert config["dataset_reader"]["instruction_format"] == variant.instruction_format


def test_an_unknown_backbone_is_refused_naming_the_setting_and_the_choices(tmp_path):
    """`backbone: 'tiny_t5'` used to give jsonnet's "field does not exist: tiny_t5"."""
    config = tmp_path / "experiment.jsonnet"
    config.write_text(
        f'local hint = import "{CONFIGS_ROOT / "hint.libsonnet"}";\n'
        f'(import "{CONFIGS_ROOT / "sni/def_2pos/hint.jsonnet"}")'
        "(hint.tiny_cpu { backbone: 'tiny_t5' })\n"
    )
    with pytest.raises(RuntimeError) as refused:
        Params.from_file(str(config))
    choices = json.dumps(sorted(BACKBONES), separators=(", ", ": "))
    assert (
        f"backbone 'tiny_t5' is not a backbone of this recipe: one of {choices} "
        "(hint_allennlp/models/paper_variants.json)"
    ) in str(refused.value)


@pytest.mark.parametrize("experiment", ["tiny/gpt2_def_2pos.jsonnet", "tiny/opt_def_2pos.jsonnet"])
def test_the_tiny_decoder_only_runs_reach_their_peak_learning_rate(experiment):
    """The warmup fits the run: over its optimizer steps the rate reaches the recipe's 2e-5."""
    config = evaluate(experiment)
    trainer = config["trainer"]
    reader = DatasetReader.from_params(Params(config["dataset_reader"]))
    instances = sum(1 for _ in reader.read(config["train_data_path"]))
    batches_per_epoch = math.ceil(instances / config["data_loader"]["batch_size"])
    steps_per_epoch = batches_per_epoch // trainer["num_gradient_accumulation_steps"]
    warmup_steps = trainer["learning_rate_scheduler"]["warmup_steps"]
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=trainer["optimizer"]["lr"])
    scheduler = LearningRateScheduler.from_params(
        optimizer=optimizer,
        num_epochs=trainer["num_epochs"],
        num_steps_per_epoch=steps_per_epoch,
        params=Params(dict(trainer["learning_rate_scheduler"])),
    )
    rates = []
    for _ in range(trainer["num_epochs"] * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        scheduler.step_batch()
    assert max(rates) == pytest.approx(2e-5, rel=0.05)
    assert warmup_steps <= len(rates) / 5, len(rates)


def test_the_opt_13b_memory_in_the_docs_is_its_shape_s():
    """docs/training_large_models.md: OPT-13B's parameters and AdamW training state, per device."""
    config = OPTConfig(
        hidden_size=5120,
        num_hidden_layers=40,
        num_attention_heads=40,
        ffn_dim=20480,
        vocab_size=50272,
        max_position_embeddings=2048,
        word_embed_proj_dim=5120,
    )  # facebook/opt-13b's config
    with torch.device("meta"):
        parameters = sum(p.numel() for p in OPTForCausalLM(config).parameters())
    text = " ".join((PROJECT_ROOT / "docs" / "training_large_models.md").read_text().split())
    devices = len(evaluate("sni/def/opt_13b.jsonnet")["distributed"]["cuda_devices"])
    state = 16 * parameters  # float32 weights and gradients, AdamW's two float32 moments
    assert f"OPT-13B's {parameters / 1e9:.2f} B parameters take {state / 1e9:.1f} GB" in text
    assert f"{state / devices / 1e9:.1f} GB per device when sharded over {devices}" in text
    assert f"bf16 copies ({2 * parameters / devices / 1e9:.1f} GB)" in text
