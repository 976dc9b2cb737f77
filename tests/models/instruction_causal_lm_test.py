"""
`instruction_causal_lm` on the tiny GPT-2 (absolute positions, no pad token) and the tiny OPT
(positions from the attention mask, BOS `</s>`): loss over the target only, left-padded batched
generation against one example at a time, the instruction's cached keys and values against none,
rank classification against a log-likelihood computed by hand.
"""

import json

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from transformers import AutoModelForCausalLM
from transformers.activations import ACT2FN

from hint_allennlp.cost.memory import key_value_cache_bytes
from tests import FIXTURES_ROOT, SNI_FIXTURES, TINY_GPT2, TINY_OPT
from tests.models.output_contract import check_output_contract

EXPERIMENT = FIXTURES_ROOT / "configs" / "instruction_causal_lm.jsonnet"
CHECKPOINTS = {"gpt2": TINY_GPT2, "opt": TINY_OPT}
# Three tasks of different instruction and input lengths, two examples of the first.
TASKS = [
    "task1146_country_capital",
    "task085_unnatural_addsub_arithmetic",
    "task429_senteval_tense",
]


def overrides(family: str, reader=None, **model) -> str:
    name = str(CHECKPOINTS[family])
    return json.dumps(
        {
            "dataset_reader.model_name": name,
            "model.model_name": name,
            **{f"dataset_reader.{key}": value for key, value in (reader or {}).items()},
            **{f"model.{key}": value for key, value in model.items()},
        }
    )


# Prompts cut inside their inputs, so that they do not all end in "Output:", after which the
# random tiny GPT-2 generates the same tokens whatever came before.
PROMPTS_ENDING_IN_THEIR_INPUT = {"max_source_tokens": 12}


def build(family: str, reader=None, **model):
    params = Params.from_file(str(EXPERIMENT), params_overrides=overrides(family, reader, **model))
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    torch.manual_seed(0)
    return reader, Model.from_params(vocab=Vocabulary(), params=params.pop("model")).eval()


def read(reader, tasks=TASKS, **reader_overrides):
    instances = []
    for task in tasks:
        instances += list(reader.read(str(SNI_FIXTURES / "tasks" / f"{task}.json")))
    instances = instances[:2] + instances[2::2]
    for instance in instances:
        reader.apply_token_indexers(instance)
    return instances


def run(model, instances, **inputs):
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    with torch.no_grad():
        return model(**{**batch.as_tensor_dict(), **inputs})


def sequence_ids(instance, *fields):
    return [token.text_id for field in fields if field in instance for token in instance[field]]


class TestInstructionCausalLM(ModelTestCase):
    def setup_method(self):
        super().setup_method()
        self.set_up_model(EXPERIMENT, SNI_FIXTURES / "splits" / "test_tasks.txt")

    @pytest.mark.slow
    @pytest.mark.parametrize("family", CHECKPOINTS)
    def test_can_train_save_and_load(self, family):
        self.ensure_model_can_train_save_and_load(EXPERIMENT, overrides=overrides(family))

    def test_output_dict_contract(self):
        metrics = check_output_contract(self)
        assert 0 < metrics["relative_flops"] < 1  # the instruction was cached


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_the_loss_is_the_targets_log_likelihood_alone(family):
    """
    The batched loss (prompts of different lengths, padded) is the mean negative log-likelihood
    of the target tokens and EOS, each computed on its own unpadded sequence; logits are computed
    only at the positions that predict a target token ([B, c]), and the gradient reaches each
    target token's and no padding's.
    """
    reader, model = build(family)
    instances = read(reader)
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    model.train()
    for module in model.modules():  # dropout off, the model in training mode otherwise
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # GPT-2's dropout modules
        elif isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0  # OPT's layers call functional dropout with their rate
    logits = []
    handle = model.lm.get_output_embeddings().register_forward_hook(
        lambda module, inputs, output: logits.append(output) or output.retain_grad()
    )
    loss = model(**batch.as_tensor_dict())["loss"]
    handle.remove()
    loss.backward()
    gradient = logits[0].grad.abs().sum(-1)  # [B, c]: per target token
    assert gradient.shape == batch.as_tensor_dict()["target_tokens"]["tokens"]["token_ids"].shape

    negative_log_likelihoods = []
    for row, instance in enumerate(instances):
        prompt = sequence_ids(instance, "instruction_tokens", "source_tokens")
        target = sequence_ids(instance, "target_tokens")
        ids = torch.tensor([prompt + target])
        with torch.no_grad():
            alone = model.lm(input_ids=ids).logits[0].log_softmax(-1)
        positions = torch.arange(len(prompt) - 1, len(prompt) + len(target) - 1)
        negative_log_likelihoods += (-alone[positions, torch.tensor(target)]).tolist()
        for position in range(gradient.size(1)):
            assert (gradient[row, position] > 0) == (position < len(target)), (row, position)
    torch.testing.assert_close(
        loss, torch.tensor(negative_log_likelihoods).mean(), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("beam_size", [1, 3])
@pytest.mark.parametrize("family", CHECKPOINTS)
def test_cached_batched_uncached_and_alone_generate_the_same(family, beam_size):
    reader, model = build(
        family, PROMPTS_ENDING_IN_THEIR_INPUT, beam_size=beam_size, max_decoding_steps=6
    )
    instances = read(reader)
    # Mixed tasks, different lengths, one task twice.
    assert len({instance["metadata"]["task"] for instance in instances}) == 3
    assert len({len(sequence_ids(i, "instruction_tokens", "source_tokens")) for i in instances}) > 2
    cached = run(model, instances)
    assert len(model.task_cache) == 3  # one entry per distinct instruction
    cached_again = run(model, instances)  # now from the cache
    alone = [run(model, [instance])["predictions"] for instance in instances]
    model.task_cache.max_size = 0
    model.task_cache.clear()
    uncached = run(model, instances)
    assert not model.task_cache.enabled and len(model.task_cache) == 0
    for output in (cached_again, uncached):
        assert torch.equal(output["predictions"], cached["predictions"])
    for row, predictions in enumerate(alone):
        length = predictions.size(1)
        assert torch.equal(cached["predictions"][row, :length], predictions[0])
        assert (cached["predictions"][row, length:] == model._pad_id).all()
    # The predictions depend on the input: a test that could not fail would not show much.
    assert len({tuple(row) for row in cached["predictions"].tolist()}) > 1


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_generation_follows_the_prompt_and_stops_at_eos(family):
    reader, model = build(family, max_decoding_steps=6)
    instance = read(reader)[0]
    output = run(model, [instance])
    prompt = torch.tensor([sequence_ids(instance, "instruction_tokens", "source_tokens")])
    expected = model.lm.generate(
        prompt, attention_mask=torch.ones_like(prompt), generation_config=model.generation_config
    )[:, prompt.size(1) :]
    assert torch.equal(output["predictions"], expected)
    # Forced to end at once, the model generates EOS alone and decodes it to nothing.
    eos_only = torch.full((1, model.lm.config.vocab_size), -1e9)
    eos_only[0, model._eos_ids[0]] = 0
    model.lm.get_output_embeddings().register_forward_hook(
        lambda module, inputs, logits: logits + eos_only
    )
    output = run(model, [instance])
    assert output["predictions"].tolist() == [[model._eos_ids[0]]]
    assert output["predicted_text"] == [""]
    assert model._generated_lengths(output["predictions"]).tolist() == [1]


def choice_instances(reader):
    choices = ["Tirana", "Paris", "New Delhi"]
    instances = [
        reader.text_to_instance(
            "Return the capital city of the country.",
            country,
            [capital],
            task="capital",
            answer_choices=choices,
        )
        for country, capital in (("Albania", "Tirana"), ("France", "Paris"))
    ] + [
        reader.text_to_instance(
            "Answer with the first word of the input.",
            "New Delhi is large.",
            ["New Delhi"],
            task="first_word",
            answer_choices=choices[:2] + ["New"],
        )
    ]
    for instance in instances:
        reader.apply_token_indexers(instance)
    return instances


@pytest.mark.parametrize("cache_size", [16, 0])
@pytest.mark.parametrize("family", CHECKPOINTS)
def test_rank_classification_scores_are_summed_log_likelihoods(family, cache_size):
    reader, model = build(family, task_cache_size=cache_size)
    instances = choice_instances(reader)
    output = run(model, instances)
    assert set(output) == {
        "loss",
        "predictions",
        "predicted_text",
        "choice_scores",
        "predicted_choice",
    }
    for row, instance in enumerate(instances):
        prompt = sequence_ids(instance, "instruction_tokens", "source_tokens")
        for column, choice in enumerate(instance["answer_choices"].field_list):
            continuation = [token.text_id for token in choice.tokens]  # the text's, then EOS
            assert continuation[-1] in model._eos_ids
            with torch.no_grad():
                logits = model.lm(input_ids=torch.tensor([prompt + continuation])).logits[0]
            log_probs = logits.log_softmax(-1)[len(prompt) - 1 : -1]
            expected = log_probs[torch.arange(len(continuation)), torch.tensor(continuation)].sum()
            torch.testing.assert_close(
                output["choice_scores"][row, column], expected, atol=1e-4, rtol=1e-5
            )
    assert output["predicted_text"] == [
        meta["answer_choices"][index]
        for meta, index in zip(
            (instance["metadata"] for instance in instances), output["predicted_choice"].tolist()
        )
    ]
    assert "accuracy" in model.get_metrics(reset=True)


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_the_cache_is_bounded_and_emptied_by_training(family):
    reader, model = build(family, task_cache_size=2)
    instances = read(reader)
    run(model, instances)  # three distinct instructions
    assert len(model.task_cache) == 2
    model.train()
    assert len(model.task_cache) == 0


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_compiled_instruction_is_appendix_c_key_value_cache(family):
    """
    Paper appendix C.2: a decoder-only model caches 2·l·h·k·s values, a key and a value per head
    and layer for each of the s tokens; the kept mask adds s bytes.
    """
    reader, model = build(family)
    instance = read(reader)[0]
    batch = Batch([instance])
    batch.index_instances(Vocabulary())
    key, kept = model.compile_instruction(batch.as_tensor_dict()["instruction_tokens"])
    config, length = model.lm.config, len(instance["instruction_tokens"])
    values = 2 * config.num_hidden_layers * config.hidden_size * length
    bytes_held = {name: tensor.numel() * tensor.element_size() for name, tensor in kept.items()}
    assert bytes_held == {
        "instruction_mask": length,
        "past_keys": 4 * values // 2,
        "past_values": 4 * values // 2,
    }
    assert bytes_held["past_keys"] + bytes_held["past_values"] == key_value_cache_bytes(
        config, length
    )
    run(model, [instance])
    assert key in model.task_cache


def test_targets_read_for_an_encoder_decoder_are_refused():
    reader, model = build("gpt2")
    params = Params.from_file(str(EXPERIMENT))
    reader_params = params.pop("dataset_reader")
    reader_params["sequence_layout"] = "encoder_decoder"
    encoder_decoder_reader = DatasetReader.from_params(reader_params)
    instances = read(encoder_decoder_reader)
    with pytest.raises(ConfigurationError, match="sequence_layout: 'decoder_only'"):
        run(model, instances)
    for instance in instances:  # as built by hand, without the metadata's layout
        del instance["metadata"].metadata["sequence_layout"]
    with pytest.raises(ConfigurationError, match="do not end with EOS"):
        run(model, instances)


def test_prompts_longer_than_the_positions_are_refused():
    reader, model = build("gpt2", max_decoding_steps=1020)
    with pytest.raises(ConfigurationError, match="exceed the 1024 positions"):
        run(model, read(reader)[:1], target_tokens=None)


def test_an_encoder_decoder_checkpoint_is_refused(tiny_t5_checkpoint):
    with pytest.raises(ConfigurationError, match="use the `hint_seq2seq` model"):
        Model.from_params(
            vocab=Vocabulary(),
            params=Params({"type": "instruction_causal_lm", "model_name": str(tiny_t5_checkpoint)}),
        )


def gradients(model, instances):
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.zero_grad()
    loss = model(**batch.as_tensor_dict())["loss"]
    loss.backward()
    return loss, {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_hf_gradient_checkpointing_gives_the_same_gradients(family):
    reader, model = build(family)
    instances = read(reader)
    loss, expected = gradients(model, instances)
    _, checkpointed = build(family, gradient_checkpointing=True)
    checkpointed_loss, actual = gradients(checkpointed, instances)
    torch.testing.assert_close(checkpointed_loss, loss, atol=1e-6, rtol=0)
    for name, gradient in expected.items():
        torch.testing.assert_close(actual[name], gradient, atol=1e-6, rtol=1e-5, msg=name)


def test_bf16_trains_and_generates_on_the_cpu():
    reader, model = build("gpt2", mixed_precision="bf16")
    instances = read(reader)
    loss, grads = gradients(model, instances)
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast, float32 weights
    model.eval()
    output = run(model, instances)
    assert len(output["predicted_text"]) == len(instances)
    # A compiled task holds its keys and values as the live cache does: in bf16.
    batch = Batch(instances[:1])
    batch.index_instances(Vocabulary())
    _, kept = model.compile_instruction(batch.as_tensor_dict()["instruction_tokens"])
    assert kept["past_keys"].dtype == kept["past_values"].dtype == torch.bfloat16


def test_gpt2_runs_the_fused_gelu_with_the_same_logits():
    """GPT-2's `gelu_new` is run as `gelu_pytorch_tanh`, the same function to 1e-5."""
    values = torch.linspace(-12, 12, 10001)
    torch.testing.assert_close(
        ACT2FN["gelu_pytorch_tanh"](values), ACT2FN["gelu_new"](values), atol=1e-5, rtol=1e-5
    )
    reader, model = build("gpt2")
    assert model.lm.config.activation_function == "gelu_pytorch_tanh"
    unfused = AutoModelForCausalLM.from_pretrained(TINY_GPT2).eval()
    assert unfused.config.activation_function == "gelu_new"
    ids = torch.tensor([sequence_ids(read(reader)[0], "instruction_tokens", "source_tokens")])
    with torch.no_grad():
        torch.testing.assert_close(
            model.lm(input_ids=ids).logits, unfused(input_ids=ids).logits, atol=1e-5, rtol=1e-5
        )
