"""
`hint_allennlp/models/paper_variants.py` is the one table of the paper's models: the jsonnet
configs' `models` and the table in docs/model.md are checked against it here.
"""

import json
import re

import _jsonnet
import pytest

from hint_allennlp.models.paper_variants import PAPER_VARIANTS, PaperVariant
from tests import PROJECT_ROOT

LIBSONNET = PROJECT_ROOT / "training_configs" / "hint.libsonnet"
# Sizes unlike any backbone's, so that a size the jsonnet fixes shows.
MODULE_SIZES = {"adapter_size": 5, "prefix_length": 6, "lora_rank": 7}
# The keys `hint_seq2seq(model, s)` in hint.libsonnet adds to every model.
SHARED_MODEL_KEYS = {
    "type",
    "model_name",
    "max_decoding_steps",
    "gradient_checkpointing",
    "mixed_precision",
}


def jsonnet_models():
    """The names in hint.libsonnet's `local models = { name(s): ..., }`."""
    text = LIBSONNET.read_text()
    block = text[
        text.index("local models = {") : text.index("\n};", text.index("local models = {"))
    ]
    return re.findall(r"^  (\w+)\(s\): \{", block, flags=re.MULTILINE)


def test_the_jsonnet_has_every_variant_and_no_other():
    assert jsonnet_models() == list(PAPER_VARIANTS)


@pytest.mark.parametrize("variant", PAPER_VARIANTS.values(), ids=list(PAPER_VARIANTS))
def test_the_jsonnet_variant_has_the_tables_arguments_and_reader_format(variant):
    snippet = f'(import "{LIBSONNET}").sni("{variant.name}", 0, {json.dumps(MODULE_SIZES)})'
    config = json.loads(_jsonnet.evaluate_snippet("variant", snippet))
    model = {key: value for key, value in config["model"].items() if key not in SHARED_MODEL_KEYS}
    assert model == variant.model_arguments(**MODULE_SIZES)
    assert config["dataset_reader"]["instruction_format"] == variant.instruction_format


def markdown_row(variant: PaperVariant) -> str:
    generator = f"`{variant.parameter_generator}`" if variant.parameter_generator else "null"
    if variant.generator_options:
        options = ", ".join(f"{k}: {json.dumps(v)}" for k, v in variant.generator_options.items())
        generator += f" (`{options}`)"
    if variant.separate_instruction_encoder:
        generator += " + `separate_instruction_encoder`"
    if variant.train_only_hypernetwork:
        generator += " + `train_only_hypernetwork`"
    generated = ", ".join(variant.generated) or "–"
    if variant.fixed_adapter_size:
        generated += f" (a = {variant.fixed_adapter_size})"
    cells = [
        variant.label,
        f"`{variant.name}`",
        generator,
        generated,
        str(variant.instruction_fusion).lower(),
        f"`{variant.instruction_format}`",
        f"`{variant.instruction_handling}`",
        variant.paper,
    ]
    return "| " + " | ".join(cells) + " |"


def test_docs_model_md_shows_the_table():
    table = "\n".join(
        [
            "| model | config name | `parameter_generator` | generated | `instruction_fusion` "
            "| reader `instruction_format` | instruction handling (FLOPs) | what it is (paper) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        + [markdown_row(variant) for variant in PAPER_VARIANTS.values()]
    )
    assert table in (PROJECT_ROOT / "docs" / "model.md").read_text(), (
        f"docs/model.md should have:\n{table}"
    )
