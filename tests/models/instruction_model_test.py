"""
What both models check when they are built or given a batch (`InstructionModel`): generation
settings, the backbone's kind, weights of another model or backbone shape, and instances read by
another tokenizer or in an instruction format the model refuses. Each error names the setting.
"""

import json
import shutil

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from transformers import T5ForConditionalGeneration

from hint_allennlp.testing.tiny_t5 import tiny_t5_config
from tests import FIXTURES_ROOT, PROJECT_ROOT, SNI_FIXTURES, TINY_GPT2, TINY_T5, run_allennlp

LIBSONNET = PROJECT_ROOT / "training_configs" / "hint.libsonnet"
MODELS = {
    "hint_seq2seq": {"type": "hint_seq2seq", "model_name": str(TINY_T5)},
    "instruction_causal_lm": {"type": "instruction_causal_lm", "model_name": str(TINY_GPT2)},
}
COUNTRY_CAPITAL = SNI_FIXTURES / "tasks" / "task1146_country_capital.json"


def build_model(**settings) -> Model:
    return Model.from_params(vocab=Vocabulary(), params=Params(settings))


def recipe_model(tmp_path, recipe: str, settings: str) -> Params:
    """The `model` of a config that calls `recipe` with `hint.tiny_cpu + settings`."""
    config = tmp_path / "experiment.jsonnet"
    config.write_text(
        f'local hint = import "{LIBSONNET}";\n'
        f'(import "{PROJECT_ROOT / "training_configs" / recipe}")(hint.tiny_cpu + {settings})\n'
    )
    return Params.from_file(str(config)).pop("model")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("beam_size", 0, "beam_size must be at least 1 (1: greedy decoding), not 0"),
        ("beam_size", -2, "beam_size must be at least 1 (1: greedy decoding), not -2"),
        ("max_decoding_steps", 0, "max_decoding_steps (the most tokens generated per"),
    ],
)
def test_generation_settings_are_checked_when_the_model_is_built(model, setting, value, message):
    """
    beam_size 0 used to fail at generation only ("slice step cannot be zero" for the decoder-only
    model), max_decoding_steps 0 with transformers' "max_new_tokens must be greater than 0".
    """
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model(**MODELS[model], **{setting: value})


def test_the_t5_recipes_refuse_a_causal_lm_naming_the_recipe_to_use(tmp_path):
    """No-Instruct on a GPT-2 used to fail in T5's code ("decoder_start_token_id has to be ...")."""
    model = recipe_model(tmp_path, "sni/def/no_instruct.jsonnet", f"{{model_name: '{TINY_GPT2}'}}")
    with pytest.raises(ConfigurationError) as refused:
        Model.from_params(vocab=Vocabulary(), params=model)
    message = str(refused.value)
    assert f"model_name '{TINY_GPT2}' is a decoder-only model (gpt2)" in message
    assert "needs an encoder-decoder backbone (T5)" in message
    assert "`instruction_causal_lm`" in message and "gpt2_xl.jsonnet" in message


def test_pretrained_weights_of_another_model_are_refused_in_words(tmp_path):
    """`pretrained_weights` naming a decoder-only run's weights used to raise KeyError."""
    weights = tmp_path / "best.th"
    torch.save(build_model(**MODELS["instruction_causal_lm"]).state_dict(), weights)
    model = recipe_model(
        tmp_path, "sni/def_2pos/hint.jsonnet", f"{{pretrained_weights: '{weights}'}}"
    )
    with pytest.raises(ConfigurationError) as refused:
        Model.from_params(vocab=Vocabulary(), params=model)
    message = str(refused.value)
    assert "weights_file_path (the configs' `pretrained_weights`) has no 't5." in message
    assert "'lm.transformer.wte.weight'" in message  # what the file holds
    assert "HintSeq2Seq on" in message


@pytest.mark.slow
def test_an_archive_loaded_onto_a_backbone_of_another_shape_names_both_shapes(
    trained_archive, tmp_path
):
    """`--overrides` pointing model_name at a wider T5 used to dump the state dict's mismatches."""
    wider = tmp_path / "wider-t5"
    shutil.copytree(TINY_T5, wider)
    T5ForConditionalGeneration(tiny_t5_config(d_model=48)).save_pretrained(wider)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"instruction": "Return the capital.", "input": "Peru"}) + "\n")
    with pytest.raises(ConfigurationError) as refused:
        run_allennlp(
            "predict",
            str(trained_archive),
            str(inputs),
            "--overrides",
            json.dumps({"model.model_name": str(wider)}),
        )
    message = str(refused.value)
    assert f"another shape than model_name '{wider}' builds" in message
    assert "[32128, 64] in the archive and [32128, 48] in the model" in message
    assert "The archive was trained with model_name" in message
    assert "size mismatch" not in message


def read_for_gpt2(**reader_settings):
    reader = DatasetReader.from_params(
        Params(
            {
                "type": "sni",
                "model_name": str(TINY_GPT2),
                "sequence_layout": "decoder_only",
                "instruction_format": "tk_instruct_prefix",
                "max_instruction_tokens": 512,
                "max_source_tokens": 256,
                "max_target_tokens": 256,
                "max_instances_per_task": 2,
                **reader_settings,
            }
        )
    )
    instances = list(reader.read(str(COUNTRY_CAPITAL)))
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    return batch.as_tensor_dict()


def test_the_decoder_only_model_refuses_the_hint_format(tmp_path, monkeypatch):
    """
    It used to train without Tk-Instruct's query and without a word: `allennlp train` refuses the
    experiment before building anything, and the model refuses such a batch (evaluate, predict).
    """
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as refused:
        run_allennlp(
            "train",
            str(FIXTURES_ROOT / "configs" / "instruction_causal_lm.jsonnet"),
            "-s",
            "run",
            "--overrides",
            json.dumps({"dataset_reader.instruction_format": "hint"}),
        )
    assert str(refused.value).startswith(
        "dataset_reader.instruction_format 'hint' (of reader type 'sni') with model type "
        "'instruction_causal_lm': it leaves Tk-Instruct's query ('Now complete the following "
        "example - Input: ... Output:') out of the prompt"
    )
    assert not (tmp_path / "run").exists()
    model = build_model(**MODELS["instruction_causal_lm"])
    with pytest.raises(ConfigurationError) as refused:
        model(**read_for_gpt2(instruction_format="hint"))
    message = str(refused.value)
    assert "instruction_format 'hint'" in message
    assert "'tk_instruct_prefix'" in message and "Now complete the following example" in message


def test_instances_of_another_tokenizer_are_refused_naming_it():
    """The GPT-2 model used to say "set sequence_layout decoder_only", which was already set."""
    model = build_model(**MODELS["instruction_causal_lm"])
    with pytest.raises(ConfigurationError) as refused:
        model(**read_for_gpt2(model_name=str(TINY_T5)))
    message = str(refused.value)
    assert f"the dataset reader's is '{TINY_T5}' (EOS id 1, 32100 tokens)" in message
    assert f"Set the reader's model_name to the model's, '{TINY_GPT2}'" in message
    assert "sequence_layout" not in message


def test_decoder_only_reader_limits_beyond_the_positions_are_refused_when_built():
    """GPT-2 with limits summing past its 1,024 positions used to fail when a long batch came."""
    with pytest.raises(ConfigurationError) as refused:
        read_for_gpt2(max_source_tokens=512)
    message = str(refused.value)
    assert (
        "max_instruction_tokens 512 + max_source_tokens 512 + max_target_tokens 256 = 1280 "
        f"tokens, exceed the 1024 positions of '{TINY_GPT2}'"
    ) in message
    # The fixture experiment's limits fit.
    params = Params.from_file(str(FIXTURES_ROOT / "configs" / "instruction_causal_lm.jsonnet"))
    reader = params.pop("dataset_reader").as_dict()
    assert sum(reader[f"max_{name}_tokens"] for name in ("instruction", "source", "target")) <= 1024
