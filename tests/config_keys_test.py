"""
A config key that no constructor of a plugin component takes is refused with AllenNLP's
`ConfigurationError`: by AllenNLP itself for the model (explicit arguments), by `InstructionReader`
for the readers, which pass on what they do not take as `**kwargs`.
"""

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader
from allennlp.data.vocabulary import Vocabulary
from allennlp.models import Model
from allennlp.nn import RegularizerApplicator

import hint_allennlp  # noqa: F401  (the registered components)
from tests import TINY_GPT2, TINY_T5


@pytest.mark.parametrize(
    "base, config",
    [
        (Model, {"type": "hint_seq2seq", "model_name": str(TINY_T5), "foo_bar": 1}),
        (Model, {"type": "instruction_causal_lm", "model_name": str(TINY_GPT2), "foo_bar": 1}),
        (DatasetReader, {"type": "sni", "model_name": str(TINY_T5), "foo_bar": 1}),
        (DatasetReader, {"type": "instruction_jsonl", "model_name": str(TINY_T5), "foo_bar": 1}),
        (DatasetReader, {"type": "p3", "model_name": str(TINY_T5), "foo_bar": 1}),
        (
            DatasetReader,
            {"type": "hypernetwork_pretraining", "model_name": str(TINY_T5), "foo_bar": 1},
        ),
    ],
)
def test_an_unknown_key_of_a_plugin_component_names_the_key(base, config):
    """
    `-o '{"model.foo_bar": 1}'` used to end in a raw TypeError
    from Model.__init__.
    """
    with pytest.raises(ConfigurationError, match="Extra parameters passed to .*foo_bar"):
        base.from_params(Params(config), vocab=Vocabulary())


def test_keys_of_the_base_classes_are_still_accepted():
    reader = DatasetReader.from_params(
        Params({"type": "sni", "model_name": str(TINY_T5), "max_instances": 3})
    )
    assert reader.max_instances == 3
    model = Model.from_params(
        Params(
            {
                "type": "hint_seq2seq",
                "model_name": str(TINY_T5),
                "regularizer": {"regexes": [[".*", "l2"]]},
            }
        ),
        vocab=Vocabulary(),
        serialization_dir="run",
    )
    assert isinstance(model._regularizer, RegularizerApplicator)
    assert model.serialization_dir == "run"
