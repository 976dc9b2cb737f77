import json

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model

from hint_allennlp.cost.flops import instruction_handling
from hint_allennlp.evaluation.per_instance_serializer import PerInstanceSerializer
from hint_allennlp.models.paper_variants import PAPER_VARIANTS, PaperVariant
from tests import FIXTURES_ROOT, TINY_T5
from tests.models.output_contract import check_output_contract

EXPERIMENT = FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"
SNI_TEST_SPLIT = FIXTURES_ROOT / "sni" / "splits" / "test_tasks.txt"

# The fixture experiment's generated-module sizes (tiny: a = 4, P = 3) and a small LoRA rank.
FIXTURE_MODULE_SIZES = {"backbone": "tiny", "adapter_size": 4, "prefix_length": 3, "lora_rank": 2}


def variant_overrides(variant: PaperVariant) -> dict:
    """The overrides that make the fixture experiment `variant`."""
    arguments = variant.model_arguments(**FIXTURE_MODULE_SIZES)
    return {
        "dataset_reader.instruction_format": variant.instruction_format,
        **{f"model.{key}": value for key, value in arguments.items()},
    }


# One row per model of the paper (`paper_variants`), then settings that only the tests run: the
# overrides to the fixture experiment.
SETTINGS = {
    **{name: variant_overrides(variant) for name, variant in PAPER_VARIANTS.items()},
    "hint_lora": {"model.peft": {"use_lora": True, "lora_rank": 2}},
    "hint_start_as_plain_t5": {
        "model.peft": {"start_as_plain_t5": True, "adapter_size": 4, "prefix_length": 3}
    },
    "hint_separate_encoder": {"model.separate_instruction_encoder": True},
}

# With start_as_plain_t5, the parts upstream of a zero-initialised factor get no gradient on the
# first step (by design: the model starts as plain T5).
GRADIENTS_TO_IGNORE = {
    "hint_start_as_plain_t5": [
        "hypernetwork.generator.embeddings",
        "hypernetwork.generator.attention.query.weight",
        "hypernetwork.generator.mlps.prefix_key.hidden.weight",
        "hypernetwork.generator.mlps.prefix_key.output.weight",
        "hypernetwork.generator.mlps.prefix_value.hidden.weight",
        "hypernetwork.generator.mlps.prefix_value.output.weight",
        "hypernetwork.generator.mlps.adapter_down.hidden.weight",
        "hypernetwork.generator.mlps.adapter_down.output.weight",
        "hypernetwork.generator.mlps.adapter_down_bias.hidden.weight",
        "hypernetwork.generator.mlps.adapter_down_bias.output.weight",
        "hypernetwork.generator.mlps.adapter_up.hidden.weight",
        "hypernetwork.generator.mlps.adapter_up_bias.hidden.weight",
        "hypernetwork.generator.attention.key.weight",
        "hypernetwork.generator.attention.value.weight",
        "hypernetwork.generator.attention.output.weight",
    ],
}


class TestHintSeq2Seq(ModelTestCase):
    def setup_method(self):
        super().setup_method()
        self.set_up_model(EXPERIMENT, SNI_TEST_SPLIT)

    @pytest.mark.slow
    @pytest.mark.parametrize("setting", list(SETTINGS))
    def test_can_train_save_and_load(self, setting):
        self.ensure_model_can_train_save_and_load(
            EXPERIMENT,
            overrides=json.dumps(SETTINGS[setting]),
            gradients_to_ignore=GRADIENTS_TO_IGNORE.get(setting),
        )

    def test_output_dict_contract(self):
        check_output_contract(self)

    def test_generation_in_a_padded_mixed_task_batch_equals_each_example_alone(self):
        self.model.eval()
        instances = [self.instances[0], self.instances[-1]]  # two test tasks, different lengths
        assert instances[0]["metadata"]["task"] != instances[1]["metadata"]["task"]
        together = self.generated(instances)
        assert together == [self.generated([instance])[0] for instance in instances]

    def test_mixed_task_batch_equals_each_example_alone(self):
        # Two tasks in one batch: each example's choice scores (the whole pipeline: hypernetwork,
        # per-example modules, fusion, decoder) equal those of the example run alone.
        self.model.eval()
        reader = self.model_reader()
        choices = ["a b c", "c b a"]
        instances = [
            reader.text_to_instance(
                "Copy the input.", "a b c", ["a b c"], "copy", answer_choices=choices
            ),
            reader.text_to_instance(
                "Reverse the words.", "a b c", ["c b a"], "reverse", answer_choices=choices
            ),
        ]
        for instance in instances:
            reader.apply_token_indexers(instance)
        together = self.choice_scores(instances)
        for index, instance in enumerate(instances):
            torch.testing.assert_close(
                together[index : index + 1], self.choice_scores([instance]), atol=1e-4, rtol=0
            )
        assert not torch.allclose(together[0], together[1])

    @staticmethod
    def model_reader():
        return DatasetReader.from_params(Params.from_file(str(EXPERIMENT)).pop("dataset_reader"))

    def generated(self, instances):
        batch = Batch(instances)
        batch.index_instances(self.vocab)
        with torch.no_grad():
            return self.model(**batch.as_tensor_dict())["predicted_text"]

    def choice_scores(self, instances):
        batch = Batch(instances)
        batch.index_instances(self.vocab)
        with torch.no_grad():
            return self.model(**batch.as_tensor_dict())["choice_scores"]


def test_rank_classification_reports_accuracy_per_task():
    reader = DatasetReader.from_params(
        Params({"type": "p3", "mode": "split", "model_name": str(TINY_T5)})
    )
    # The fixture's examples with answer choices and a gold answer.
    instances = [
        i
        for i in reader.read(FIXTURES_ROOT / "p3" / "test_prompts.jsonl")
        if "target_tokens" in i and "answer_choices" in i
    ]
    for instance in instances:
        reader.apply_token_indexers(instance)
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    model = Model.from_params(
        vocab=Vocabulary(), params=Params.from_file(str(EXPERIMENT)).pop("model")
    ).eval()
    with torch.no_grad():
        output = model(**batch.as_tensor_dict())
    choices = [instance["metadata"]["answer_choices"] for instance in instances]
    # `predictions` are token ids [B, c] here too: the chosen choice's.
    choice_ids = batch.as_tensor_dict()["answer_choices"]["tokens"]["token_ids"]  # [B, C, c]
    assert torch.equal(
        output["predictions"], choice_ids[torch.arange(len(instances)), output["predicted_choice"]]
    )
    lines = PerInstanceSerializer()(batch.as_tensor_dict(), output, data_loader=None).splitlines()
    assert [json.loads(line)["choice"] for line in lines] == output["predicted_choice"].tolist()
    assert output["predicted_text"] == [
        options[index] for options, index in zip(choices, output["predicted_choice"].tolist())
    ]
    metrics = model.get_metrics(reset=True)
    gold = [instance["metadata"]["gold_choice"] for instance in instances]
    expected = (
        100.0 * sum(p == g for p, g in zip(output["predicted_choice"].tolist(), gold)) / len(gold)
    )
    assert metrics["accuracy"] == pytest.approx(expected)
    assert "accuracy_rte_gpt3_style" in metrics


def _fixture_model(**overrides) -> Model:
    params = Params.from_file(
        str(EXPERIMENT),
        params_overrides=json.dumps({f"model.{k}": v for k, v in overrides.items()}),
    )
    return Model.from_params(vocab=Vocabulary(), params=params.pop("model"))


def test_dropout_setting_reaches_t5_and_the_generator_attention():
    """
    allenai/hyper-task-descriptions, hyper_task_descriptions/modeling/hyper_network.py: the
    generator's `hyperattn` takes `dropout_rate=cfg.dropout_rate`, the model's one rate.
    """
    model = _fixture_model(dropout=0.0)
    assert model.t5.config.dropout_rate == 0.0
    assert all(
        module.p == 0.0 for module in model.t5.modules() if isinstance(module, torch.nn.Dropout)
    )
    assert model.hypernetwork.generator.attention.dropout == 0.0
    model = _fixture_model(dropout=0.3)
    assert {module.p for module in model.t5.modules() if isinstance(module, torch.nn.Dropout)} == {
        0.3
    }
    assert model.hypernetwork.generator.attention.dropout == 0.3
    # The generator's attention really drops: in training, its outputs vary between calls.
    generator = model.hypernetwork.generator.train()
    states, mask = torch.randn(1, 5, model.t5.config.d_model), torch.ones(1, 5, dtype=torch.bool)
    assert not torch.equal(
        generator(states, mask)["prefix_key"], generator(states, mask)["prefix_key"]
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"parameter_generator": None, "instruction_fusion": False},
        {"parameter_generator": {"type": "learned"}, "instruction_fusion": False},
    ],
    ids=["tk_instruct", "tk_instruct_peft"],
)
def test_a_model_that_reads_no_instruction_refuses_instruction_tokens(overrides):
    instances = list(
        DatasetReader.from_params(Params.from_file(str(EXPERIMENT)).pop("dataset_reader")).read(
            SNI_TEST_SPLIT
        )
    )[:2]
    assert "instruction_tokens" in instances[0]  # the 'hint' format
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    with pytest.raises(
        ConfigurationError, match="instruction_format 'hint'.*reads no instruction.*'tk_instruct'"
    ):
        _fixture_model(**overrides)(**batch.as_tensor_dict())


def test_learned_modules_with_instruction_fusion_serve_every_instruction():
    """
    Tk-Instruct + PEFT with the instruction fused (`learned`, `instruction_fusion: true`): the
    shared modules (batch 1) stand beside each distinct instruction's encoded states; it trains,
    and evaluation from the task cache predicts what the first evaluation, which filled it,
    predicted.
    """
    from tests.modules.large_models.checkpointing_test import build

    model, inputs = build("hint", parameter_generator={"type": "learned"}, instruction_fusion=True)
    loss = model(**inputs)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and model.hypernetwork.generator.embeddings.grad.abs().sum() > 0
    ids = inputs["instruction_tokens"]["tokens"]["token_ids"]
    mask = inputs["instruction_tokens"]["tokens"]["mask"]
    modules = model.hypernetwork(ids, mask)
    assert modules.tensors["prefix_key"].size(0) == ids.size(0)
    assert torch.equal(modules.tensors["prefix_key"][0], modules.tensors["prefix_key"][-1])
    model.eval()
    model.task_cache.clear()
    with torch.no_grad():
        computed = model(**inputs)["predicted_text"]
        assert len(model.task_cache) == 2  # the batch's two tasks
        assert model(**inputs)["predicted_text"] == computed


@pytest.mark.parametrize("variant", PAPER_VARIANTS.values(), ids=list(PAPER_VARIANTS))
def test_each_paper_variant_handles_the_instruction_as_the_table_says(variant):
    model = _fixture_model(**variant.model_arguments(**FIXTURE_MODULE_SIZES))
    assert instruction_handling(
        model.reads_instruction, model.instruction_fusion, variant.instruction_format
    ) == (variant.instruction_handling)
    generates = model.hypernetwork is not None and model.hypernetwork.generator is not None
    kinds = {
        "adapters": model.peft.use_adapters,
        "prefixes": model.peft.use_prefixes,
        "lora": model.peft.use_lora,
    }
    assert {kind for kind, enabled in kinds.items() if enabled and generates} == set(
        variant.generated
    )


def test_generation_runs_the_lm_head_and_cross_attention_projections_only_where_needed():
    """
    Per generated token the LM head runs at one position per row; each cross-attention projects
    the batch's inputs once and the fused instruction once per distinct instruction per
    `generate` call, not at every step.
    """
    model = _fixture_model(max_decoding_steps=4).eval()
    model.t5.generation_config.eos_token_id = None  # exactly 4 steps
    reader = TestHintSeq2Seq.model_reader()
    instances = [
        reader.text_to_instance("Copy the input.", text, [text], "copy")
        for text in ("a b", "c d e")
    ]
    for instance in instances:
        reader.apply_token_indexers(instance)
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    head_rows = []
    hooks = [
        model.t5.lm_head.register_forward_pre_hook(
            lambda _, args: head_rows.append(tuple(args[0].shape[:2]))
        )
    ]
    projections = []
    for block in model.t5.decoder.block:
        hooks.append(
            block.layer[1].EncDecAttention.k.register_forward_pre_hook(
                lambda _, args: projections.append(tuple(args[0].shape[:2]))
            )
        )
    with torch.no_grad():  # generation alone (no target: no loss)
        output = model(**{**batch.as_tensor_dict(), "target_tokens": None})
    for hook in hooks:
        hook.remove()
    assert output["predictions"].size(1) == 4
    assert head_rows == [(2, 1)] * 4
    layers = len(model.t5.decoder.block)
    source_length = max(len(instance["source_tokens"]) for instance in instances)
    instruction_length = len(instances[0]["instruction_tokens"])
    assert sorted(projections) == sorted(
        [(2, source_length)] * layers + [(1, instruction_length)] * layers
    )
