import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.metrics import Metric

from hint_allennlp.cost.flops import ParameterCounts
from hint_allennlp.metrics.inference_flops import InferenceFlops

# Small made-up counts, so that the expected numbers can be worked out by hand below. An encoder
# token of an instance meets E + X + A_enc = 10 + 2 + 1 = 13 weights, an output token
# D + A_dec = 20 + 3 = 23, an instruction token in the hypernetwork and the fused cross-attention
# keys and values E + N' + X = 10 + 5 + 2 = 17. Tk-Instruct has no modules and no generator: 12 per
# input token, 20 per output token.
PARAMETERS = ParameterCounts(
    encoder=10,
    cross_attention_key_value=2,
    decoder=20,
    generator=5,
    encoder_modules=1,
    decoder_modules=3,
)
# (task, instruction t, instance i, output o), fed in two batches; task B appears in both.
BATCHES = [
    [("A", 4, 3, 1), ("A", 4, 5, 1), ("B", 6, 2, 2)],
    [("B", 6, 4, 2)],
]
# HINT with fusion, per task: 17·t once, then 13·i + 23·o per example.
#   A: 17·4 = 68;  (39 + 23) + (65 + 23) = 150;  218
#   B: 17·6 = 102;  (26 + 46) + (52 + 46) = 170;  272
HINT_FLOPS = 2 * (218 + 272)
# Tk-Instruct, per example 12·(t + i) + 20·o: A: 104 + 128, B: 136 + 160.
TK_INSTRUCT_FLOPS = 2 * (104 + 128 + 136 + 160)


def feed(metric, batches=BATCHES):
    for batch in batches:
        metric(*map(list, zip(*batch)))


def test_counts_the_instruction_once_per_task():
    metric = InferenceFlops(PARAMETERS, "hypernetwork_with_fusion")
    feed(metric)
    assert metric.get_metric(reset=True) == {
        "flops": pytest.approx(HINT_FLOPS),
        "relative_flops": pytest.approx(HINT_FLOPS / TK_INSTRUCT_FLOPS),
    }
    assert metric.get_metric() == {"flops": 0.0, "relative_flops": 0.0}


def test_tk_instruct_is_its_own_reference():
    metric = InferenceFlops(
        ParameterCounts(encoder=10, cross_attention_key_value=2, decoder=20), "concatenated"
    )
    feed(metric)
    assert metric.get_metric() == {
        "flops": pytest.approx(TK_INSTRUCT_FLOPS),
        "relative_flops": pytest.approx(1.0),
    }


@pytest.mark.parametrize("tasks, output_lengths", [(["A", "B"], [1]), (["A", ""], [1, 1])])
def test_rejects_malformed_input(tasks, output_lengths):
    with pytest.raises(ValueError):
        InferenceFlops(PARAMETERS)(tasks, [1, 1], [1, 1], output_lengths)


def test_builds_from_params_and_checks_the_handling():
    params = {"type": "inference_flops", "instruction_handling": "omitted"}
    params["parameters"] = {"encoder": 10, "cross_attention_key_value": 2, "decoder": 20}
    metric = Metric.from_params(Params(params))
    assert isinstance(metric, InferenceFlops) and metric.parameters.decoder == 20
    with pytest.raises(ConfigurationError):
        InferenceFlops(PARAMETERS, "prepended")
