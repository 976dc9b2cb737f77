"""
How generated modules are injected into a HuggingFace backbone: each enabled kind
(`inserted_modules_config.MODULE_KINDS`) switches the T5 layers it uses in place to subclasses
(`AdapterT5LayerFF`, `TaskVectorT5Attention`, `LoraLinear`), or hooks a decoder-only model's
modules (`AdapterHook`, `LoraHook`), keeping every weight and every state-dict name of the
original, so a HINT model still loads and exports plain checkpoints. All injected layers read
their tensors from one shared `ActiveTaskState`, which the model sets for the duration of a
forward pass; with nothing set they compute exactly what the plain backbone computes.
"""

from typing import Optional

from transformers import PreTrainedModel

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.instruction_fusion import inject_instruction_fusion
from hint_allennlp.modules.inserted.task_state import ActiveTaskState


def inject_task_modules(
    model: PreTrainedModel,
    peft: Optional[InsertedModulesConfig],
    active: ActiveTaskState,
    instruction_fusion: bool = False,
) -> None:
    """
    Makes the layers that `peft` names (None: no generated modules) read their tensors from
    `active`, and with `instruction_fusion` a T5's cross-attentions also attend to the fused
    instruction (`instruction_fusion.py`; a decoder-only model has its instruction in its prompt).
    """
    shape = BackboneShape.from_config(model.config)
    for kind in peft.enabled_kinds() if peft is not None else ():
        kind.inject(model, shape, peft, active)
    if instruction_fusion:
        inject_instruction_fusion(model, active)
