"""
How the encoded instruction reaches the decoder (instruction fusion, HINT_SPEC §2): every decoder
cross-attention attends over `[encoded instruction ; encoded input]`.

Concatenating the encoded instruction to every example's encoder output would make each example's
cross-attentions project the t instruction vectors to keys and values again, 2·X·t FLOPs per
example, more than the rest of the example for long instructions. Instead each cross-attention
projects the instruction once per distinct instruction in the forward pass (with its own k and v,
generated LoRA included), and `PrefixT5Attention` prepends those keys and values, with the
instruction's padding mask, to the keys and values of each example's input. Cross-attention has no
position bias, so this computes exactly what concatenation computes (tested).
"""
import torch
from transformers import T5ForConditionalGeneration

from hint_allennlp.modules.injection import ActiveTaskModules, cross_attentions
from hint_allennlp.modules.task_modules import TaskModules


def with_fused_instruction(
    t5: T5ForConditionalGeneration, active: ActiveTaskModules, modules: TaskModules
) -> TaskModules:
    """
    `modules` (with the encoded instruction) -> the same modules with, instead of the encoded
    instruction, each decoder cross-attention's keys and values of it: `fusion_key`, `fusion_value`
    [Bm, D, heads, t, d_kv], and the instruction mask [Bm, t].
    """
    states = modules["instruction_states"]  # [Bm, t, d]
    batch_size = states.size(0)
    keys, values = [], []
    with active.use(modules):  # generated LoRA on k and v applies
        for _, attention in cross_attentions(t5):
            # [Bm, t, H * d_kv] -> [Bm, H, t, d_kv]
            keys.append(attention.k(states).view(batch_size, -1, attention.n_heads, attention.key_value_proj_dim))
            values.append(attention.v(states).view(batch_size, -1, attention.n_heads, attention.key_value_proj_dim))
    tensors = {key: tensor for key, tensor in modules.items() if key != "instruction_states"}
    tensors["fusion_key"] = torch.stack(keys, dim=1).transpose(2, 3).contiguous()  # [Bm, D, t, H, d_kv] -> [Bm, D, H, t, d_kv]
    tensors["fusion_value"] = torch.stack(values, dim=1).transpose(2, 3).contiguous()
    return TaskModules(tensors)
