"""
Gradient checkpointing of T5 blocks that sees the generated modules.

HF's `gradient_checkpointing_enable()` recomputes each block in backward, when the model's
`ActiveTaskState.use(...)` has long exited: the injected layers then have no modules to read
(they raise; they used to recompute plain T5, the gradients of another model than the loss's, none
for the hypernetwork). Here each block instead captures the modules active when it runs
forward and re-enters them in its recomputation: what a block's recomputation sees is bound to the
forward pass that used it, not to a context. The block stays the same object under the same name
(its class is switched in place, as the injected layers are), so state dicts and anything that
wraps each `T5Block` (FSDP) are unaffected.
"""

from typing import Iterator, List

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel
from transformers.models.t5.modeling_t5 import T5Block, T5Stack

from hint_allennlp.modules.inserted.task_state import ActiveTaskState
from hint_allennlp.modules.transformers_internals import (
    block_cache,
    cache_restorer,
    checkpoint_layers_with,
)


class CheckpointedT5Block(T5Block):
    """
    `T5Block` whose forward, in training with gradients, keeps only its inputs and recomputes the
    rest in backward (`torch.utils.checkpoint`, non-reentrant: it takes keyword arguments, keeps
    the autocast and RNG state of the forward pass, and runs inside the block's `__call__`, so
    hooks on the block, FSDP's included, run around it). The recomputation re-enters the
    `TaskState` that were active in the forward pass (None in the hypernetwork's pass over the
    instruction, which the same encoder blocks run).
    """

    @classmethod
    def convert(cls, block: T5Block, active: ActiveTaskState) -> "CheckpointedT5Block":
        block.__class__ = cls
        block.active = active
        return block

    def forward(self, *args, **kwargs):
        # A key/value cache (generation) would be written twice; evaluation keeps no activations.
        if not (self.training and torch.is_grad_enabled()) or block_cache(kwargs) is not None:
            return super().forward(*args, **kwargs)
        return checkpoint(
            self._forward_with_modules, self.active.current, *args, use_reentrant=False, **kwargs
        )

    def _forward_with_modules(self, modules, *args, **kwargs):
        with self.active.use(modules):
            return super().forward(*args, **kwargs)


def t5_blocks(module: nn.Module) -> Iterator[T5Block]:
    """Every `T5Block` in `module` (a T5, or the hypernetwork's separate instruction encoder)."""
    return (submodule for submodule in module.modules() if isinstance(submodule, T5Block))


def enable_gradient_checkpointing(module: nn.Module, active: ActiveTaskState) -> None:
    """Checkpoints every T5 block of `module`, with the modules `active` holds when each runs."""
    for block in t5_blocks(module):
        CheckpointedT5Block.convert(block, active)


def t5_stacks(module: nn.Module) -> List[T5Stack]:
    """Every `T5Stack` in `module`: the T5 encoder and decoder, a separate instruction encoder."""
    return [submodule for submodule in module.modules() if isinstance(submodule, T5Stack)]


def refuse_hf_gradient_checkpointing(stacks: List[T5Stack]) -> None:
    """
    Raises if HF's own checkpointing is on in one of `stacks` (a model's `t5_stacks`, found once):
    it would recompute without the modules.
    """
    if any(stack.gradient_checkpointing for stack in stacks):
        raise ValueError(
            "HF's gradient checkpointing is on in this model's T5 "
            "(model.t5.gradient_checkpointing_enable()). "
            "It recomputes each T5 block in backward after the generated modules (adapters, "
            "prefixes, LoRA, the fused instruction) are gone, so it would train another model than "
            "the one the loss is of. "
            "Call model.t5.gradient_checkpointing_disable() and use the hint_seq2seq setting "
            "`gradient_checkpointing: true` instead, which recomputes each block with them."
        )


def enable_causal_lm_checkpointing(lm: PreTrainedModel, active: ActiveTaskState) -> None:
    """
    HF's checkpointing of a causal LM's layers (non-reentrant), each layer's recomputation
    re-entering the generated modules `active` held in its forward pass, with the key/value cache
    it got (a generated prefix) as it was then: the same loss and gradients as without it.
    """
    lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def checkpoint_with_modules(layer_call, *args, **kwargs):
        modules = active.current
        restore_cache = cache_restorer([*args, *kwargs.values()])

        def recomputable(*layer_args, **layer_kwargs):
            restore_cache()
            with active.use(modules):
                return layer_call(*layer_args, **layer_kwargs)

        return checkpoint(recomputable, *args, use_reentrant=False, **kwargs)

    checkpoint_layers_with(lm, checkpoint_with_modules)
