"""
The reader side of the reader/model contract on special tokens (`hint_allennlp/data/
sequence_layout.py`), for every reader, on the tiny GPT-2 (no special tokens added) and the tiny
OPT (BOS `</s>` prepended), and the model side's refusal of the other layout.
"""

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from transformers import AutoTokenizer

from hint_allennlp.data.sequence_layout import check_batch_layout
from hint_allennlp.data.tk_format import format_query
from tests import FIXTURES_ROOT, SNI_FIXTURES, TINY_GPT2, TINY_OPT

# (reader arguments, data) of every reader set-up that a decoder-only model reads.
READERS = {
    "sni tk_instruct_prefix": (
        {"type": "sni", "instruction_format": "tk_instruct_prefix", "max_instances_per_task": 3},
        SNI_FIXTURES / "tasks",
    ),
    "sni tk_instruct": (
        {"type": "sni", "instruction_format": "tk_instruct", "max_instances_per_task": 3},
        SNI_FIXTURES / "tasks",
    ),
    "jsonl choices": (
        {"type": "instruction_jsonl", "instruction_format": "tk_instruct_prefix"},
        FIXTURES_ROOT / "jsonl" / "tasks_with_choices.jsonl",
    ),
    "p3 prompt_only": (
        {"type": "p3", "mode": "prompt_only"},
        FIXTURES_ROOT / "p3" / "test_prompts.jsonl",
    ),
}
CHECKPOINTS = {"gpt2": TINY_GPT2, "opt": TINY_OPT}


def read(checkpoint, arguments, path, **extra):
    reader = DatasetReader.from_params(
        Params(
            {
                **arguments,
                "model_name": str(checkpoint),
                "sequence_layout": "decoder_only",
                # Within the 1,024 positions of the tiny GPT-2 (checked when the reader is built).
                "max_instruction_tokens": 512,
                "max_source_tokens": 256,
                "max_target_tokens": 256,
                **extra,
            }
        )
    )
    return list(reader.read(str(path)))


def ids(field):
    return [token.text_id for token in field.tokens]


@pytest.mark.parametrize("family", CHECKPOINTS)
@pytest.mark.parametrize("setup", READERS)
def test_decoder_only_fields(family, setup):
    tokenizer = AutoTokenizer.from_pretrained(CHECKPOINTS[family])
    bos = [tokenizer.bos_token_id] if family == "opt" else []
    eos = tokenizer.eos_token_id
    instances = read(CHECKPOINTS[family], *READERS[setup])
    assert instances
    for instance in instances:
        prompt_fields = [
            instance[name] for name in ("instruction_tokens", "source_tokens") if name in instance
        ]
        prompt = [token_id for field in prompt_fields for token_id in ids(field)]
        # The prompt starts with the tokenizer's start tokens, once (OPT's BOS is its EOS, GPT-2's
        # is none), and ends in no EOS.
        assert prompt[: len(bos)] == bos and prompt.count(eos) == len(bos)
        continuations = [instance["target_tokens"]] if "target_tokens" in instance else []
        if "answer_choices" in instance:
            continuations += instance["answer_choices"].field_list
        assert continuations
        for field in continuations:
            # The text's tokens, then EOS; no start token.
            assert ids(field)[-1] == eos and eos not in ids(field)[:-1]
        assert instance["metadata"]["sequence_layout"] == "decoder_only"


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_the_two_prompt_parts_are_the_tk_instruct_string(family):
    tokenizer = AutoTokenizer.from_pretrained(CHECKPOINTS[family])
    task = SNI_FIXTURES / "tasks" / "task1146_country_capital.json"
    arguments = {"type": "sni", "max_instances_per_task": 1}
    split = read(
        CHECKPOINTS[family], {**arguments, "instruction_format": "tk_instruct_prefix"}, task
    )[0]
    whole = read(CHECKPOINTS[family], {**arguments, "instruction_format": "tk_instruct"}, task)[0]
    assert split["metadata"]["source"] == format_query("Albania")
    assert split["metadata"]["input"] == whole["metadata"]["input"] == "Albania"
    prompt = ids(split["instruction_tokens"]) + ids(split["source_tokens"])
    assert tokenizer.decode(prompt, skip_special_tokens=True) == tokenizer.decode(
        ids(whole["source_tokens"]), skip_special_tokens=True
    )
    # The target carries the prompt's trailing space (`move_trailing_whitespace`).
    assert tokenizer.decode(ids(split["target_tokens"])) == " Tirana" + tokenizer.eos_token


@pytest.mark.parametrize("family", CHECKPOINTS)
@pytest.mark.parametrize("setup", READERS)
def test_the_fields_are_the_whole_string_s_tokens(family, setup):
    """
    Byte-level BPE: prompt fields and each continuation, tokenized one field at a time, are the
    tokens of the whole string `instruction + input + continuation`, one by one (the target with
    its leading space, the instruction/input boundary as in the joint string).
    """
    tokenizer = AutoTokenizer.from_pretrained(CHECKPOINTS[family])
    for instance in read(CHECKPOINTS[family], *READERS[setup]):
        metadata = instance["metadata"]
        prompt_text = metadata["instruction"] + metadata["source"]
        prompt = [
            token_id
            for name in ("instruction_tokens", "source_tokens")
            if name in instance
            for token_id in ids(instance[name])
        ]
        continuations = []
        if "target_tokens" in instance:
            continuations.append((metadata["references"][0], instance["target_tokens"]))
        if "answer_choices" in instance:
            continuations += zip(metadata["answer_choices"], instance["answer_choices"].field_list)
        for text, field in continuations:
            whole = tokenizer(prompt_text + text)
            assert prompt + ids(field)[:-1] == whole["input_ids"], (setup, text)


def test_truncation_keeps_the_targets_eos():
    task = SNI_FIXTURES / "tasks" / "task1146_country_capital.json"
    instance = read(
        TINY_OPT, {"type": "sni", "max_instances_per_task": 1}, task, max_target_tokens=2
    )[0]
    assert ids(instance["target_tokens"])[-1] == 2  # "Tir" + </s>
    assert len(instance["target_tokens"].tokens) == 2


def test_encoder_decoder_layout_is_the_tokenizers_own():
    task = SNI_FIXTURES / "tasks" / "task1146_country_capital.json"
    reader = DatasetReader.from_params(
        Params({"type": "sni", "model_name": str(TINY_OPT), "max_instances_per_task": 1})
    )
    instance = list(reader.read(str(task)))[0]
    assert ids(instance["target_tokens"])[0] == 2  # OPT's BOS, as its tokenizer makes it
    assert instance["metadata"]["sequence_layout"] == "encoder_decoder"


def test_a_model_refuses_the_other_layout():
    check_batch_layout(
        "decoder_only", "instruction_causal_lm", [{"sequence_layout": "decoder_only"}]
    )
    check_batch_layout("decoder_only", "instruction_causal_lm", [{}])  # built by hand
    with pytest.raises(ConfigurationError, match="`sequence_layout: 'decoder_only'`"):
        check_batch_layout(
            "decoder_only", "instruction_causal_lm", [{"sequence_layout": "encoder_decoder"}]
        )


def test_unknown_layout_is_refused():
    with pytest.raises(ConfigurationError, match="sequence_layout must be one of"):
        DatasetReader.from_params(
            Params({"type": "sni", "model_name": str(TINY_GPT2), "sequence_layout": "causal"})
        )


def test_hint_seq2seq_refuses_instances_read_for_a_decoder_only_model():
    params = Params.from_file(str(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"))
    reader_params = params.pop("dataset_reader")
    reader_params["sequence_layout"] = "decoder_only"
    reader = DatasetReader.from_params(reader_params)
    instances = list(reader.read(str(SNI_FIXTURES / "tasks" / "task1146_country_capital.json")))
    # T5's input no longer ends in </s> in that layout: the model would read another sequence.
    assert instances[0]["source_tokens"].tokens[-1].text != "</s>"
    batch = Batch(instances[:2])
    batch.index_instances(Vocabulary())
    model = Model.from_params(vocab=Vocabulary(), params=params.pop("model"))
    with pytest.raises(ConfigurationError, match="`sequence_layout: 'encoder_decoder'`"):
        model(**batch.as_tensor_dict())
