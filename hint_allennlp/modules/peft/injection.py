"""
How generated modules are injected into a HuggingFace T5: each enabled kind
(`peft_config.MODULE_KINDS`) switches the layers it uses in place to subclasses (`AdapterT5LayerFF`,
`TaskVectorT5Attention`, `LoraLinear`) that keep every weight and every state-dict name of the
original, so a HINT model still loads and exports plain T5 checkpoints. All injected layers read
their tensors from one shared `ActiveTaskParameters`, which the model sets for the duration of a
forward pass; with nothing set they compute exactly what plain T5 computes.
"""

from typing import Optional

from transformers import T5ForConditionalGeneration

from hint_allennlp.modules.peft.instruction_fusion import inject_instruction_fusion
from hint_allennlp.modules.peft.peft_config import PeftConfig
from hint_allennlp.modules.peft.task_parameters import ActiveTaskParameters


def inject_task_modules(
    t5: T5ForConditionalGeneration,
    peft: Optional[PeftConfig],
    active: ActiveTaskParameters,
    instruction_fusion: bool = False,
) -> None:
    """
    Switches the layers that `peft` names (None: no generated modules) to subclasses that read their
    tensors from `active`, and with `instruction_fusion` the cross-attentions to ones that also
    attend to the fused instruction (`instruction_fusion.py`).
    """
    for kind in peft.enabled_kinds() if peft is not None else ():
        kind.inject(t5, peft, active)
    if instruction_fusion:
        inject_instruction_fusion(t5, active)
