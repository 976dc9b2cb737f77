"""
The figures docs/metrics.md gives for T5-XL (gins/hyper_xl.gin's shape: d_model 2048, 24 + 24
layers, 32 heads of 64, gated-GELU feed-forward of 5120; a = 512, P = 30; SNI's medians of the
paper's Table 7), recomputed with `hint_allennlp.cost.flops`.
"""

from transformers import T5Config

from hint_allennlp.cost.flops import (
    ParameterCounts,
    TaskLengths,
    cached_task_bytes,
    inference_flops,
)
from hint_allennlp.modules.peft.peft_config import PeftConfig
from tests import PROJECT_ROOT

METRICS_MD = (PROJECT_ROOT / "docs" / "metrics.md").read_text()
T5_XL = T5Config(
    d_model=2048,
    d_ff=5120,
    num_layers=24,
    num_decoder_layers=24,
    num_heads=32,
    d_kv=64,
    feed_forward_proj="gated-gelu",
    vocab_size=32128,
)
PEFT = PeftConfig(adapter_size=512, prefix_length=30)
INSTANCE, OUTPUT, EXAMPLES = 44, 1, 100


def test_relative_flops_table():
    plain = ParameterCounts.from_t5_config(T5_XL)
    with_modules = ParameterCounts.from_t5_config(T5_XL, PEFT)
    # The paper's N: every parameter (embedding table included); A: the modules' values.
    n = plain.encoder + plain.cross_attention_key_value + plain.decoder + 32128 * 2048
    a = with_modules.encoder_modules + with_modules.decoder_modules
    rows = []
    for setting, t in (("Def (t = 69)", 69), ("Def + 2 Pos. (t = 197)", 197)):
        lengths = TaskLengths(t, INSTANCE, OUTPUT, EXAMPLES)
        tk_instruct = inference_flops("concatenated", plain, lengths)
        paper_tk_instruct = n * EXAMPLES * (t + INSTANCE + OUTPUT)
        paper_hint = t * n + EXAMPLES * (n + a) * (INSTANCE + OUTPUT)  # N' = 0; fusion neglected
        for model, handling, counts, paper in (
            ("No-Instruct", "omitted", plain, n * EXAMPLES * (INSTANCE + OUTPUT)),
            ("HINT − fusion", "hypernetwork", with_modules, paper_hint),
            ("HINT", "hypernetwork_with_fusion", with_modules, paper_hint),
        ):
            ours = inference_flops(handling, counts, lengths) / tk_instruct
            rows.append(f"| {setting} | {model} | {ours:.3f} | {paper / paper_tk_instruct:.3f} |")
            setting = setting.split(" (")[0]
    assert "\n".join(rows) in METRICS_MD, "docs/metrics.md should have:\n" + "\n".join(rows)


def test_cached_task_memory():
    megabytes = cached_task_bytes(T5_XL, PEFT, instruction_length=69) / 1e6
    assert f"T5-XL with a = 512, P = 30, t = 69: {megabytes:.0f} MB in float32" in " ".join(
        METRICS_MD.split()
    )
