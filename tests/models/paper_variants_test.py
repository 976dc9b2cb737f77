"""
`hint_allennlp/models/paper_variants.json` is the one table of the paper's models and backbones:
training_configs/hint.libsonnet and `paper_variants.py` each turn a variant into `hint_seq2seq`
arguments, checked equal here, and the table in docs/model.md is checked against it.
"""

import json

import _jsonnet
import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.models import paper_variants
from hint_allennlp.models.paper_variants import BACKBONES, PAPER_VARIANTS, PaperVariant
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


@pytest.mark.parametrize(
    "variant, backbone",
    # Every variant on the default backbone, and those whose sizes differ on some backbone there.
    [(variant, "base") for variant in PAPER_VARIANTS.values()]
    + [
        (variant, backbone)
        for variant in PAPER_VARIANTS.values()
        for backbone in variant.peft_by_backbone
    ],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_the_jsonnet_variant_has_the_tables_arguments_and_reader_format(variant, backbone):
    settings = {**MODULE_SIZES, "backbone": backbone}
    snippet = f'(import "{LIBSONNET}").sni("{variant.name}", 0, {json.dumps(settings)})'
    config = json.loads(_jsonnet.evaluate_snippet("variant", snippet))
    model = {key: value for key, value in config["model"].items() if key not in SHARED_MODEL_KEYS}
    assert model == variant.model_arguments(**settings)
    assert config["dataset_reader"]["instruction_format"] == variant.instruction_format


def test_a_variant_whose_sizes_differ_by_backbone_needs_the_backbone():
    with pytest.raises(ValueError, match=r"'hypter' needs the settings \['backbone'\]"):
        PAPER_VARIANTS["hypter"].model_arguments(**MODULE_SIZES)


@pytest.mark.parametrize("backbone", BACKBONES.values(), ids=list(BACKBONES))
def test_the_jsonnet_backbone_takes_the_tables_checkpoint_and_sizes(backbone):
    snippet = f'(import "{LIBSONNET}").sni("hint", 0, {{backbone: "{backbone.name}"}})'
    config = json.loads(_jsonnet.evaluate_snippet("backbone", snippet))
    # The tiny checkpoint is a folder of this repository, named from wherever the config is read
    # (here by its absolute path).
    expected = (
        PROJECT_ROOT / backbone.model_name if backbone.name == "tiny" else backbone.model_name
    )
    assert config["model"]["model_name"] == str(expected)
    sizes = backbone.module_sizes()
    assert config["model"]["peft"] == {key: sizes[key] for key in ("adapter_size", "prefix_length")}


def test_an_entry_with_an_unknown_key_is_refused_naming_it():
    entry = {
        "label": "HINT",
        "paper": "",
        "instruction_format": "hint",
        "model": {"parameter_generator": {"type": "cross_attention"}, "instruction_fusion": True},
        "peft": {"adapter_sise": 8},
        "peft_from_settings": [],
    }
    with pytest.raises(ConfigurationError, match=r"variants\.typo: \['adapter_sise'\]"):
        paper_variants._variant("typo", entry)
    with pytest.raises(ConfigurationError, match="peft` goes with a parameter_generator"):
        paper_variants._variant(
            "typo", {**entry, "model": {**entry["model"], "parameter_generator": None}}
        )


# The letters of Table 5's rows ("Adapters (a = 512)", "Prefixes (l = 512)", "LoRA (r = 512)").
TABLE_5_SYMBOLS = {"adapter_size": "a", "prefix_length": "l", "lora_rank": "r"}


@pytest.mark.parametrize(
    "variant",
    [variant for variant in PAPER_VARIANTS.values() if "Table 5" in variant.paper],
    ids=lambda variant: variant.name,
)
def test_a_table_5_row_of_fixed_size_is_the_size_its_paper_row_names(variant):
    for key, value in variant.fixed_peft.items():
        assert f"{TABLE_5_SYMBOLS[key]} = {value})" in variant.paper, (key, value)


def markdown_row(variant: PaperVariant) -> str:
    generator = f"`{variant.parameter_generator}`" if variant.parameter_generator else "null"
    options = {
        key: value
        for key, value in (variant.model["parameter_generator"] or {}).items()
        if key != "type"
    }
    if options:
        generator += " (`" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in options.items()) + "`)"
    # The model's other keys (the separate instruction encoder, the frozen T5), in the file's order.
    for key, value in variant.model.items():
        if key not in ("parameter_generator", "instruction_fusion"):
            generator += f" + `{key}`" if value is True else f" + `{key}: {json.dumps(value)}`"
    generated = ", ".join(variant.generated) or "–"
    if variant.fixed_peft:
        sizes = [", ".join(f"{k} = {v}" for k, v in variant.fixed_peft.items())] + [
            f"{', '.join(f'{k} = {v}' for k, v in overrides.items())} at `{backbone}`"
            for backbone, overrides in variant.peft_by_backbone.items()
        ]
        generated += " (" + "; ".join(sizes) + ")"
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


def test_docs_training_md_shows_the_backbones():
    table = "\n".join(
        [
            "| backbone | checkpoint | adapters a (`adapter_size`) "
            "| prefixes P (`prefix_length`) |",
            "|---|---|---|---|",
        ]
        + [
            f"| `{backbone.name}` | `{backbone.model_name}` | {backbone.adapter_size} "
            f"| {backbone.prefix_length} |"
            for backbone in BACKBONES.values()
        ]
    )
    assert table in (PROJECT_ROOT / "docs" / "training.md").read_text(), (
        f"docs/training.md should have:\n{table}"
    )


def test_the_decoder_only_backbones_give_what_the_jsonnet_reads():
    """hint.libsonnet's `sni_decoder_only` reads these keys; a misspelled one would be ignored."""
    backbones = paper_variants.PAPER_TABLE["decoder_only_backbones"]
    for name, entry in backbones.items():
        assert {"model_name", "lengths"} <= set(entry) <= {"model_name", "lengths", "tiny"}, name
        assert entry.get("tiny", name) in backbones, name
