"""How a generated LoRA update acts on a T5 attention projection (the paper's Table 5 ablation)."""
import torch
from torch import nn

from hint_allennlp.modules.peft.task_parameters import per_example_matmul


class LoraLinear(nn.Linear):
    """
    A q/k/v/o projection `W` of a T5 attention with a generated low-rank update:
    `x W + (x A) B * scale`, A [Bm, in, r] and B [Bm, r, out] from the active `TaskModules` and `scale`
    = alpha / r (`PeftConfig.lora_scale`), as the reference's `lora.py` adds `lora_a @ lora_b * (alpha /
    rank)` to the kernel. Without active modules, exactly `nn.Linear`.
    """

    @classmethod
    def convert(cls, linear: nn.Linear, attention_slot: int, projection: str, active, scale: float) -> "LoraLinear":
        linear.__class__ = cls
        linear.attention_slot = attention_slot
        linear.projection = projection
        linear.active = active
        linear.scale = scale
        return linear

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        output = super().forward(inputs)
        modules = self.active.current
        lora = modules.lora(self.attention_slot, self.projection) if modules is not None else None
        if lora is None:
            return output
        lora_a, lora_b = lora
        # [B, seq, in] -> [B, seq, r] -> [B, seq, out]
        return output + per_example_matmul(per_example_matmul(inputs, lora_a), lora_b) * self.scale

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, attention_slot={self.attention_slot}, projection={self.projection}, scale={self.scale}"
