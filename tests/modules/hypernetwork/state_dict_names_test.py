"""
Every model setting keeps the state-dict names and shapes it had when
`fixtures/state_dict_names.json` was written (before the generated-module kinds became units of
their own), so archives trained before still load: the names beyond plain T5's in full, and a hash
of the whole ordered list.
"""

import copy
import hashlib
import json

import pytest
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from transformers import T5ForConditionalGeneration

from tests import FIXTURES_ROOT, TINY_T5

EXPECTED = json.loads((FIXTURES_ROOT / "state_dict_names.json").read_text())
BASE = {
    "type": "hint_seq2seq",
    "model_name": str(TINY_T5),
    "parameter_generator": {"type": "cross_attention"},
    "max_decoding_steps": 4,
}
# One row per generator type and per option that adds or moves weights: overrides of BASE.
SETTINGS = {
    # Rows without a `peft` of their own take InsertedModulesConfig's defaults, as when the fixture
    # was made.
    "hint": {"peft": {"adapter_size": 4, "prefix_length": 3}},
    "hint_lora": {
        "peft": {
            "adapter_size": 4,
            "prefix_length": 3,
            "use_lora": True,
            "lora_rank": 2,
            "lora_projections": ["q", "k", "v", "o"],
        }
    },
    "hint_plain": {
        "peft": {
            "start_as_plain_t5": True,
            "adapter_size": 4,
            "prefix_length": 3,
            "use_lora": True,
            "lora_rank": 2,
        }
    },
    "hint_without_fusion": {"instruction_fusion": False},
    "fusion_only": {"parameter_generator": None},
    "hint_separate_encoder": {"separate_instruction_encoder": True},
    "hint_ckpt": {"gradient_checkpointing": True},
    "tk_instruct": {"parameter_generator": None, "instruction_fusion": False},
    "learned": {"parameter_generator": {"type": "learned"}, "instruction_fusion": False},
    "hypter": {
        "parameter_generator": {"type": "hypter"},
        "peft": {"adapter_size": 4, "use_prefixes": False},
        "separate_instruction_encoder": True,
        "instruction_fusion": False,
    },
    "hypertune": {
        "parameter_generator": {"type": "hypertune"},
        "peft": {"prefix_length": 3, "use_adapters": False},
        "instruction_fusion": False,
    },
}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_state_dict_names_and_shapes_are_those_of_earlier_archives(setting):
    # A copy: Params pops the nested dicts it is given, and no row may change another's.
    settings = copy.deepcopy({**BASE, **SETTINGS[setting]})
    model = Model.from_params(vocab=Vocabulary(), params=Params(settings))
    plain_t5 = {
        f"t5.{name}" for name in T5ForConditionalGeneration.from_pretrained(TINY_T5).state_dict()
    }
    state_dict = model.state_dict()
    entries = [f"{name} {list(tensor.shape)}" for name, tensor in state_dict.items()]
    expected = EXPECTED[setting]
    assert plain_t5 <= set(state_dict)
    assert [entry for entry, name in zip(entries, state_dict) if name not in plain_t5] == expected[
        "beyond_plain_t5"
    ]
    assert len(entries) == expected["count"]
    assert hashlib.sha256("\n".join(entries).encode()).hexdigest() == expected["sha256_of_all"]
