"""
Table 1's "Rel. FLOPs" column in the paper's own convention, for every row this project has,
beside the paper's figures:

    python -m benchmark table1_flops

The paper's convention (§3.3, appendix C.1 and D; Table 1's caption): one task of n = 100
examples at Table 7's median SNI lengths (instance i = 44, instruction t = 69 'Def' / 197
'Def + 2 Pos.', instruction and instance together 133 / 199 as measured jointly, output o = 1),
N the nominal model size (250M, 3B, 11B; GPT-2 XL 1.5B, OPT-13B 13B), relative to base-size
Tk-Instruct with the definition only:

- Tk-Instruct (instruction concatenated):   N·n·(t+i + o), t+i the joint median;
- + PEFT (learned modules of A values):      (N + A)·n·(t+i + o);
- No-Instruct:                               N·n·(i + o);
- hypernetworks (HINT, Hypter, HyperTune):  t·(N + N') + n·(N + A)·(i + o);
- decoder-only (appendix D: 2N per token, the instruction's keys and values cached):
                                             2·N·(t + n·(i + o)).

N' (the generator) and A (the generated or learned modules) are this project's, counted on each
backbone's shape (`hint_seq2seq`'s parameter counts, generators built on the meta device).
`hint_allennlp/cost/flops.py` holds the exact counts this convention simplifies.
"""

import argparse
from dataclasses import dataclass
from typing import List, Optional

import torch
from allennlp.common import Lazy, Params
from transformers import T5ForConditionalGeneration

from hint_allennlp.cost.flops import ParameterCounts
from hint_allennlp.models.paper_variants import BACKBONES, PAPER_VARIANTS
from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig

EXAMPLES = 100
INSTANCE, OUTPUT = 44, 1
# (instruction alone, instruction + instance measured jointly) per setting (paper Table 7).
SETTINGS = {"Def": (69, 133), "Def + 2 Pos.": (197, 199)}
NOMINAL_SIZES = {"base": 250e6, "xl": 3e9, "xxl": 11e9, "gpt2_xl": 1.5e9, "opt_13b": 13e9}
SIZE_LABELS = {
    "base": "250M",
    "xl": "3B",
    "xxl": "11B",
    "gpt2_xl": "1.5B",
    "opt_13b": "13B",
}
DECODER_ONLY = {"gpt2_xl": "GPT-2 XL", "opt_13b": "OPT-13B"}


@dataclass(frozen=True)
class Row:
    """One row of Table 1: a model on a backbone, with the paper's two figures (None: none)."""

    variant: str  # a key of PAPER_VARIANTS, or of DECODER_ONLY
    backbone: str
    paper: tuple  # (Def, Def + 2 Pos.)


# The paper's Table 1 rows that this project has, in its order. The 11B Tk-Instruct 'Def' figure
# is unreadable in the copy of the paper this project works from.
ROWS = [
    Row("tk_instruct", "base", (1.0, 1.5)),
    Row("tk_instruct_peft", "base", (1.1, 1.6)),
    Row("hypter", "base", (0.4, 0.4)),
    Row("hint", "base", (0.4, 0.4)),
    Row("tk_instruct", "xl", (12.0, 17.9)),
    Row("tk_instruct_peft", "xl", (12.4, 18.5)),
    Row("no_instruct", "xl", (3.9, None)),
    Row("gpt2_xl", "gpt2_xl", (4.1, 4.2)),
    Row("hypter", "xl", (4.3, 4.4)),
    Row("hypertune", "xl", (4.1, 4.3)),
    Row("hint", "xl", (4.5, 4.6)),
    Row("tk_instruct", "xxl", (None, 65.7)),
    Row("tk_instruct_peft", "xxl", (44.0, 65.7)),
    Row("opt_13b", "opt_13b", (15.9, 16.4)),
    Row("hypter", "xxl", (15.3, 15.7)),
    Row("hint", "xxl", (16.1, 16.5)),
]


@dataclass(frozen=True)
class Sizes:
    """N, N' and A of a model, in parameters (A: module values met per token)."""

    model: float
    generator: float = 0.0
    modules: float = 0.0


def variant_sizes(variant: str, backbone: str) -> Sizes:
    """The nominal N, and N' and A as this project's `hint_seq2seq` has them on the backbone."""
    if variant in DECODER_ONLY:
        return Sizes(NOMINAL_SIZES[backbone])
    arguments = PAPER_VARIANTS[variant].model_arguments(**BACKBONES[backbone].module_sizes())
    if arguments["parameter_generator"] is None:
        return Sizes(NOMINAL_SIZES[backbone])
    config, peft = BACKBONES[backbone].t5_config(), InsertedModulesConfig(**arguments["peft"])
    with torch.device("meta"):  # shapes only: an 11B generator costs no memory
        decoder = T5ForConditionalGeneration(config).decoder
        generator = Lazy(
            ParameterGenerator, Params(dict(arguments["parameter_generator"]))
        ).construct(shape=BackboneShape.from_config(config), peft=peft, t5_decoder=decoder)
    counts = ParameterCounts.from_t5_config(config, peft)
    return Sizes(
        NOMINAL_SIZES[backbone],
        sum(parameter.numel() for parameter in generator.parameters()),
        counts.encoder_modules + counts.decoder_modules,
    )


def paper_flops(variant: str, sizes: Sizes, instruction: int, joint: int) -> float:
    """One task's FLOPs in the paper's convention (module docstring)."""
    n, i, o = EXAMPLES, INSTANCE, OUTPUT
    if variant in DECODER_ONLY:
        return 2 * sizes.model * (instruction + n * (i + o))
    handling = PAPER_VARIANTS[variant].instruction_handling
    if handling == "concatenated":
        return (sizes.model + sizes.modules) * n * (joint + o)
    if handling == "omitted":
        return sizes.model * n * (i + o)
    return instruction * (sizes.model + sizes.generator) + n * (sizes.model + sizes.modules) * (
        i + o
    )


def reference_flops() -> float:
    """Base-size Tk-Instruct, 'Def': what every figure of the column is relative to."""
    return paper_flops("tk_instruct", Sizes(NOMINAL_SIZES["base"]), *SETTINGS["Def"])


def relative_flops(row: Row) -> List[Optional[float]]:
    """Ours, per setting; None where the paper has no such cell (No-Instruct 'Def + 2 Pos.')."""
    sizes = variant_sizes(row.variant, row.backbone)
    return [
        None
        if paper is None and row.variant == "no_instruct"
        else paper_flops(row.variant, sizes, *SETTINGS[setting]) / reference_flops()
        for setting, paper in zip(SETTINGS, row.paper)
    ]


def implied_flops_per_token(row: Row) -> List[Optional[float]]:
    """
    For a decoder-only row, the FLOPs per processed token that the paper's figures imply, in units
    of N (appendix D says 2N): its figure times the reference over N·(t + n·(i + o)) tokens.
    """
    if row.variant not in DECODER_ONLY:
        return [None, None]
    size = NOMINAL_SIZES[row.backbone]
    return [
        None
        if paper is None
        else paper * reference_flops() / (size * (instruction + EXAMPLES * (INSTANCE + OUTPUT)))
        for (instruction, _), paper in zip(SETTINGS.values(), row.paper)
    ]


def note(row: Row) -> str:
    """Where a figure cannot be reproduced in the paper's own convention, and why."""
    implied = implied_flops_per_token(row)
    if implied[0] is None or all(round(value, 1) == 2.0 for value in implied):
        return ""
    return (
        "not reproducible with appendix D's 2N per token: the paper's figures imply "
        + " / ".join(f"{value:.2f}·N" for value in implied)
        + " per token"
    )


def label(row: Row) -> str:
    if row.variant in DECODER_ONLY:
        return DECODER_ONLY[row.variant]
    return PAPER_VARIANTS[row.variant].label


def cell(value: Optional[float]) -> str:
    return "–" if value is None else f"×{value:.1f}"


def markdown_table() -> str:
    lines = [
        "| model | size | Def: ours | Def: paper | Def + 2 Pos.: ours | Def + 2 Pos.: paper | |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        ours = relative_flops(row)
        lines.append(
            f"| {label(row)} | {SIZE_LABELS[row.backbone]} | {cell(ours[0])} | "
            f"{cell(row.paper[0])} | {cell(ours[1])} | {cell(row.paper[1])} | {note(row)} |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> None:
    print(markdown_table())
