"""
The models of the paper (Tables 1, 5 and 6) as settings of `hint_seq2seq`, and the backbones they
are trained on, as `paper_variants.json` beside this file holds them: the one table that
`training_configs/hint.libsonnet` imports and that the model's reader check, the benchmarks, the
analytic memory plan, the tests and docs/model.md follow. Here each entry is checked once, when the
file is read, and what follows from it is derived: which module kinds a variant generates (from
`InsertedModulesConfig`), how it handles the instruction (`cost.flops.instruction_handling`).
"""

import copy
import json
from dataclasses import dataclass, field, fields
from importlib import resources
from typing import Any, Dict, List, Mapping, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from transformers import T5Config

from hint_allennlp.cost.flops import instruction_handling
from hint_allennlp.data.dataset_readers.task_instruction_reader import INSTRUCTION_FORMATS
from hint_allennlp.modules.hypernetwork.hypernetwork import reads_instruction
from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.inserted.inserted_modules_config import (
    MODULE_KINDS,
    InsertedModulesConfig,
)

DATA_FILE = "paper_variants.json"
VARIANT_KEYS = {
    "label",
    "paper",
    "instruction_format",
    "model",
    "peft",
    "peft_by_backbone",
    "peft_from_settings",
}
BACKBONE_KEYS = {"model_name", "adapter_size", "prefix_length", "shape"}


@dataclass(frozen=True)
class PaperVariant:
    """
    One model of the paper: an entry of `paper_variants.json`'s `variants`.

    name : its key there, in the benchmarks and the configs' model argument.
    label : its name in tables.
    paper : what it is and where the paper has it.
    instruction_format : the reader's `instruction_format`.
    model : its `hint_seq2seq` arguments other than `peft` (at least `parameter_generator`, None
        for no generated modules, and `instruction_fusion`).
    peft : its `InsertedModulesConfig` keys, None without a generator.
    peft_from_settings : the `InsertedModulesConfig` keys taken from the experiment's settings (the
    sizes that
        follow the backbone: `adapter_size`, `prefix_length`; and `lora_rank`).
    peft_by_backbone : per backbone name, the `peft` keys that differ there (Hypter's a = 1 at 11B).
    """

    name: str
    label: str
    paper: str
    instruction_format: str
    model: Mapping[str, Any]
    peft: Optional[Mapping[str, Any]] = None
    peft_from_settings: Tuple[str, ...] = ()
    peft_by_backbone: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def parameter_generator(self) -> Optional[str]:
        """The registered generator's name, None for no generated modules."""
        generator = self.model["parameter_generator"]
        return generator["type"] if generator is not None else None

    @property
    def instruction_fusion(self) -> bool:
        return self.model["instruction_fusion"]

    @property
    def generated(self) -> Tuple[str, ...]:
        """The module kinds generated (`ModuleKind.name`), empty without a generator."""
        if self.peft is None:
            return ()
        return tuple(kind.name for kind in InsertedModulesConfig(**self.peft).enabled_kinds())

    @property
    def fixed_peft(self) -> Dict[str, Any]:
        """
        The `InsertedModulesConfig` sizes not taken from the settings (Hypter's a = 8, as Ye
        and Ren).
        """
        flags = {kind.enabled_field for kind in MODULE_KINDS}
        return {key: value for key, value in (self.peft or {}).items() if key not in flags}

    @property
    def instruction_handling(self) -> str:
        """How the instruction reaches this model, in the terms of `hint_allennlp.cost.flops`."""
        generator = (
            ParameterGenerator.by_name(self.parameter_generator)
            if self.parameter_generator is not None
            else None
        )
        return instruction_handling(
            reads_instruction(generator, self.instruction_fusion),
            self.instruction_fusion,
            self.instruction_format,
        )

    def model_arguments(self, **settings: Any) -> Dict[str, Any]:
        """
        The `hint_seq2seq` arguments of this variant, as training_configs/hint.libsonnet writes
        them, with the `peft_from_settings` keys taken from `settings` (e.g. `adapter_size=8,
        prefix_length=7, lora_rank=128`) and the `peft_by_backbone` keys of `settings["backbone"]`
        (e.g. `Backbone.module_sizes()`; other keys are not used).
        """
        arguments = copy.deepcopy(dict(self.model))
        if self.peft is not None:
            needed = [*self.peft_from_settings, *(["backbone"] if self.peft_by_backbone else [])]
            missing = [key for key in needed if key not in settings]
            if missing:
                raise ValueError(f"The paper variant {self.name!r} needs the settings {missing}")
            arguments["peft"] = {
                **self.peft,
                **self.peft_by_backbone.get(settings.get("backbone"), {}),
                **{key: settings[key] for key in self.peft_from_settings},
            }
        return arguments


@dataclass(frozen=True)
class Backbone:
    """
    One backbone of `paper_variants.json`: the checkpoint, the sizes of the modules generated for
    it, and its shape (None for the tiny test checkpoint, whose shape is `testing.tiny_t5`'s).
    """

    name: str
    model_name: str
    adapter_size: int
    prefix_length: int
    shape: Optional[Mapping[str, int]] = None
    shared: Mapping[str, Any] = field(default_factory=dict)

    def module_sizes(self) -> Dict[str, Any]:
        """
        The settings a variant's `model_arguments` read: this backbone's name (for
        `peft_by_backbone`) and sizes (for `peft_from_settings`).
        """
        return {
            "backbone": self.name,
            "adapter_size": self.adapter_size,
            "prefix_length": self.prefix_length,
            **MODULE_SIZES,
        }

    def t5_config_overrides(self) -> Dict[str, Any]:
        """`T5Config` arguments of this backbone's shape (as many decoder as encoder layers)."""
        if self.shape is None:
            raise ValueError(f"The backbone {self.name!r} has no shape in {DATA_FILE}")
        return {**self.shared, **self.shape, "num_decoder_layers": self.shape["num_layers"]}

    def t5_config(self) -> T5Config:
        return T5Config(**self.t5_config_overrides())


def _read_table() -> Dict[str, Any]:
    with resources.files(__package__).joinpath(DATA_FILE).open(encoding="utf-8") as file:
        return json.load(file)


def _variant(name: str, entry: Dict[str, Any]) -> PaperVariant:
    """The entry `name` of the file's `variants`, checked."""
    where = f"{DATA_FILE}, variants.{name}"
    unknown = set(entry) - VARIANT_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}")
    model = entry["model"]
    for key in ("parameter_generator", "instruction_fusion"):
        if key not in model:
            raise ConfigurationError(f"{where}.model must give {key}")
    if entry["instruction_format"] not in INSTRUCTION_FORMATS:
        raise ConfigurationError(f"{where}.instruction_format must be one of {INSTRUCTION_FORMATS}")
    has_generator = model["parameter_generator"] is not None
    if ("peft" in entry) != has_generator:
        raise ConfigurationError(f"{where}: `peft` goes with a parameter_generator, and only there")
    peft_fields = {config_field.name for config_field in fields(InsertedModulesConfig)}
    unknown = (set(entry.get("peft", {})) | set(entry.get("peft_from_settings", ()))) - peft_fields
    if unknown:
        raise ConfigurationError(f"{where}: {sorted(unknown)} are not InsertedModulesConfig fields")
    by_backbone = entry.get("peft_by_backbone", {})
    unknown = set(by_backbone) - set(PAPER_TABLE["backbones"])
    if unknown:
        raise ConfigurationError(f"{where}.peft_by_backbone: {sorted(unknown)} are not backbones")
    for backbone, overrides in by_backbone.items():
        unknown = set(overrides) - set(entry.get("peft", {}))
        if unknown:
            raise ConfigurationError(
                f"{where}.peft_by_backbone.{backbone}: {sorted(unknown)} are not keys of its peft"
            )
    return PaperVariant(
        name=name,
        label=entry["label"],
        paper=entry["paper"],
        instruction_format=entry["instruction_format"],
        model=model,
        peft=entry.get("peft"),
        peft_from_settings=tuple(entry.get("peft_from_settings", ())),
        peft_by_backbone=by_backbone,
    )


def _backbone(name: str, entry: Dict[str, Any], shared: Dict[str, Any]) -> Backbone:
    unknown = set(entry) - BACKBONE_KEYS
    if unknown:
        raise ConfigurationError(f"{DATA_FILE}, backbones.{name}: unknown keys {sorted(unknown)}")
    return Backbone(name=name, shared=shared, **entry)


PAPER_TABLE: Dict[str, Any] = _read_table()
PAPER_VARIANTS: Dict[str, PaperVariant] = {
    name: _variant(name, entry) for name, entry in PAPER_TABLE["variants"].items()
}
# Sizes of generated modules that do not follow the backbone.
MODULE_SIZES: Dict[str, int] = PAPER_TABLE["module_sizes"]
BACKBONES: Dict[str, Backbone] = {
    name: _backbone(name, entry, PAPER_TABLE["t5_v1_1"])
    for name, entry in PAPER_TABLE["backbones"].items()
}


def labels_by_instruction_format() -> Dict[str, List[str]]:
    """The labels of the paper's models by the reader `instruction_format` each needs."""
    labels: Dict[str, List[str]] = {}
    for variant in PAPER_VARIANTS.values():
        labels.setdefault(variant.instruction_format, []).append(variant.label)
    return labels
