"""
The models of the paper (Tables 1, 5 and 6) as settings of `hint_seq2seq`, in one table that the
model's reader check, the benchmarks, the tests and docs/model.md follow.
`training_configs/hint.libsonnet` keeps its own `models` (jsonnet cannot import Python);
`tests/models/paper_variants_test.py` checks that they agree.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

# The generated-module kinds a `PeftConfig` enables: adapters and prefixes by default, LoRA on
# request.
GENERATED_BY_DEFAULT = ("adapters", "prefixes")


@dataclass(frozen=True)
class PaperVariant:
    """
    One model of the paper.

    name : its key in `PAPER_VARIANTS`, in hint.libsonnet's `models` and in the benchmarks.
    label : its name in tables.
    parameter_generator : the registered generator (`hint_seq2seq`'s `parameter_generator` type),
        None for no generated modules.
    generator_options : the generator's own arguments beside its type.
    instruction_fusion, separate_instruction_encoder, train_only_hypernetwork : those
        `hint_seq2seq` arguments.
    instruction_format : the reader's `instruction_format`.
    instruction_handling : how the instruction reaches the model, in the terms of
        `hint_allennlp.cost.flops` (`reader_instruction_handling` of the model's own).
    paper : what it is and where the paper has it.
    generated : the module kinds generated, empty without a generator.
    fixed_adapter_size : the adapter size whatever the backbone (Hypter's, as Ye and Ren, 2021).
    """

    name: str
    label: str
    parameter_generator: Optional[str]
    instruction_fusion: bool
    instruction_format: str
    instruction_handling: str
    paper: str
    generated: Tuple[str, ...] = ()
    separate_instruction_encoder: bool = False
    train_only_hypernetwork: bool = False
    fixed_adapter_size: Optional[int] = None
    generator_options: Dict[str, Any] = field(default_factory=dict)

    def model_arguments(
        self, adapter_size: int, prefix_length: int, lora_rank: int
    ) -> Dict[str, Any]:
        """
        The `hint_seq2seq` arguments of this variant (as hint.libsonnet's `models` writes them) on a
        backbone whose generated modules have these sizes.
        """
        arguments: Dict[str, Any] = {
            "parameter_generator": {"type": self.parameter_generator, **self.generator_options}
            if self.parameter_generator
            else None,
            "instruction_fusion": self.instruction_fusion,
        }
        if self.parameter_generator is not None:
            arguments["peft"] = self._peft(adapter_size, prefix_length, lora_rank)
        if self.separate_instruction_encoder:
            arguments["separate_instruction_encoder"] = True
        if self.train_only_hypernetwork:
            arguments["train_only_hypernetwork"] = True
        return arguments

    def _peft(self, adapter_size: int, prefix_length: int, lora_rank: int) -> Dict[str, Any]:
        """
        The `PeftConfig` keys: the sizes of what is generated, what is on by default turned off.
        """
        peft: Dict[str, Any] = {}
        if "adapters" in self.generated:
            peft["adapter_size"] = self.fixed_adapter_size or adapter_size
        if "prefixes" in self.generated:
            peft["prefix_length"] = prefix_length
        if "lora" in self.generated:
            peft.update(use_lora=True, lora_rank=lora_rank)
        peft.update(
            {f"use_{kind}": False for kind in GENERATED_BY_DEFAULT if kind not in self.generated}
        )
        return peft


PAPER_VARIANTS: Dict[str, PaperVariant] = {
    variant.name: variant
    for variant in (
        PaperVariant(
            "hint",
            "HINT",
            "cross_attention",
            instruction_fusion=True,
            instruction_format="hint",
            instruction_handling="hypernetwork_with_fusion",
            paper="generated adapters + prefixes and instruction fusion (Tables 1–2)",
            generated=("adapters", "prefixes"),
        ),
        PaperVariant(
            "hint_without_fusion",
            "HINT − fusion",
            "cross_attention",
            instruction_fusion=False,
            instruction_format="hint",
            instruction_handling="hypernetwork",
            paper='generated modules only (Table 6 "− Instr. Fus.", Table 5 "Adapters + Prefixes")',
            generated=("adapters", "prefixes"),
        ),
        PaperVariant(
            "hint_without_fusion_adapters",
            "HINT − fusion, adapters",
            "cross_attention",
            instruction_fusion=False,
            instruction_format="hint",
            instruction_handling="hypernetwork",
            paper='generated adapters only (Table 5 "Adapters (a = 512)")',
            generated=("adapters",),
        ),
        PaperVariant(
            "hint_without_fusion_prefixes",
            "HINT − fusion, prefixes",
            "cross_attention",
            instruction_fusion=False,
            instruction_format="hint",
            instruction_handling="hypernetwork",
            paper='generated prefixes only (Table 5 "Prefixes (l = 30)", "(l = 512)")',
            generated=("prefixes",),
        ),
        PaperVariant(
            "hint_without_fusion_lora",
            "HINT − fusion, LoRA",
            "cross_attention",
            instruction_fusion=False,
            instruction_format="hint",
            instruction_handling="hypernetwork",
            paper='generated LoRA `x A B · 1/r` on q and v, r = 128 or 512 (Table 5 "LoRA")',
            generated=("lora",),
        ),
        PaperVariant(
            "hint_without_peft_generation",
            "HINT − PEFT generation",
            None,
            instruction_fusion=True,
            instruction_format="hint",
            instruction_handling="hypernetwork_with_fusion",
            paper='instruction fusion only (Table 6 "− PEFT Gen.")',
        ),
        PaperVariant(
            "hypter",
            "Hypter",
            "hypter",
            instruction_fusion=False,
            instruction_format="hint",
            instruction_handling="hypernetwork",
            paper="mean-pooled instruction → one MLP per component type for all layers "
            '(Table 1 "Hypter (our replication)")',
            generated=("adapters",),
            separate_instruction_encoder=True,
            fixed_adapter_size=8,
        ),
        PaperVariant(
            "hint_decoder_generator",
            "HINT, decoder generator",
            "hypertune",
            instruction_fusion=True,
            instruction_format="hint",
            instruction_handling="hypernetwork_with_fusion",
            paper="HINT generating prefixes with a hyper-decoder initialised from the T5 decoder, "
            'no self-attention, making every layer\'s at once (Table 6 "+ Decoder")',
            generated=("prefixes",),
            generator_options={"all_slots_at_once": True},
        ),
        PaperVariant(
            "hypertune",
            "HyperTune",
            "hypertune",
            instruction_fusion=False,
            instruction_format="hint",
            instruction_handling="hypernetwork",
            paper="prefixes from a separate hyper-encoder and a hyper-decoder initialised from "
            'T5\'s encoder and decoder; T5 frozen (Table 1 "HyperTune")',
            generated=("prefixes",),
            separate_instruction_encoder=True,
            train_only_hypernetwork=True,
        ),
        PaperVariant(
            "tk_instruct",
            "Tk-Instruct",
            None,
            instruction_fusion=False,
            instruction_format="tk_instruct",
            instruction_handling="concatenated",
            paper="plain T5, instruction concatenated to the input (Table 1)",
        ),
        PaperVariant(
            "tk_instruct_peft",
            "Tk-Instruct + PEFT",
            "learned",
            instruction_fusion=False,
            instruction_format="tk_instruct",
            instruction_handling="concatenated",
            paper="that, plus adapters + prefixes made from learned embeddings by the generator "
            'MLPs (Table 1 "Tk-Instruct + PEFT")',
            generated=("adapters", "prefixes"),
        ),
        PaperVariant(
            "no_instruct",
            "No-Instruct",
            None,
            instruction_fusion=False,
            instruction_format="no_instruct",
            instruction_handling="omitted",
            paper="plain T5 on the input alone (Table 1)",
        ),
    )
}


def reader_instruction_handling(model_handling: str, instruction_format: str) -> str:
    """
    How the instruction reaches a model whose own handling is `model_handling`
    (`HintSeq2Seq.instruction_handling`) from a reader in `instruction_format`: a model that reads
    the instruction inside its input gets none from a reader in the 'no_instruct' format.
    """
    return (
        "omitted"
        if model_handling == "concatenated" and instruction_format == "no_instruct"
        else model_handling
    )


def labels_by_instruction_format() -> Dict[str, List[str]]:
    """The labels of the paper's models by the reader `instruction_format` each needs."""
    labels: Dict[str, List[str]] = {}
    for variant in PAPER_VARIANTS.values():
        labels.setdefault(variant.instruction_format, []).append(variant.label)
    return labels
