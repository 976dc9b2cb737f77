"""
How the encoded instruction reaches the decoder (instruction fusion, paper §3.1): every decoder
cross-attention attends over `[encoded instruction ; encoded input]`.

Concatenating the encoded instruction to every example's encoder output would make each example's
cross-attentions project the t instruction vectors to keys and values again, 2·X·t FLOPs per
example, more than the rest of the example for long instructions. Instead each cross-attention,
inside its own forward (`TaskVectorT5Attention.fused_instruction`), projects each distinct
instruction of the batch once with its own k and v (generated LoRA included) and prepends those keys
and values, with the instruction's padding mask, to the keys and values of each example's input.
Cross-attention has no position bias, so this computes exactly what concatenation computes (tested).

The projection happens inside the cross-attention's forward because a block's weights may exist
only then: under FSDP a sharded block is gathered for its own forward and freed after it.
"""

from transformers import T5ForConditionalGeneration

from hint_allennlp.modules.backbones.t5 import cross_attentions
from hint_allennlp.modules.inserted.task_state import ActiveTaskState
from hint_allennlp.modules.inserted.task_vector_attention import TaskVectorT5Attention


def inject_instruction_fusion(t5: T5ForConditionalGeneration, active: ActiveTaskState) -> None:
    """
    Switches every decoder cross-attention to one that also attends to the instruction in `active`.
    """
    for layer, attention in cross_attentions(t5):
        TaskVectorT5Attention.convert(attention, active).add_fused_instruction(layer)
