"""
The modules of a decoder-only HF causal LM that generated modules act in, found by the names of its
row of `architectures.ARCHITECTURES` (as peft finds its target modules by name): one slot per
decoder block, for the attention slots (prefixes, LoRA) and the feed-forward slots (adapters) alike.
"""

from operator import attrgetter
from typing import Iterator, List, Tuple

from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers import PreTrainedModel
from transformers.pytorch_utils import Conv1D

from hint_allennlp.modules.backbones.architectures import Architecture, architecture


def decoder_blocks(lm: PreTrainedModel) -> List[nn.Module]:
    """The decoder blocks of `lm`, first to last (slot l is block l)."""
    return list(attrgetter(_row(lm).layers)(lm))


def feed_forward_modules(lm: PreTrainedModel) -> Iterator[Tuple[int, nn.Module]]:
    """(slot, the block's feed-forward module, which takes the normed hidden states)."""
    row = _row(lm)
    if row.mlp is None:
        raise ConfigurationError(
            f"{lm.config.model_type} blocks have no feed-forward module to put an adapter after "
            "(their projections are attributes of the block): set use_adapters false in peft"
        )
    for slot, block in enumerate(decoder_blocks(lm)):
        yield slot, getattr(block, row.mlp)


def projection_modules(
    lm: PreTrainedModel, projection: str
) -> Iterator[Tuple[int, nn.Module, slice]]:
    """
    (slot, the module that computes attention projection `projection` (q, k, v, o), the part of its
    output that is that projection's): all of it, or a third of GPT-2's fused `c_attn`.
    """
    row = _row(lm)
    for slot, block in enumerate(decoder_blocks(lm)):
        module = getattr(getattr(block, row.attention), row.projections[projection])
        output = slice(None)
        if row.fused_qkv and projection != "o":
            width = module_sizes(module)[1] // 3
            part = "qkv".index(projection)
            output = slice(part * width, (part + 1) * width)
        yield slot, module, output


def module_sizes(module: nn.Module) -> Tuple[int, int]:
    """(in, out) features of an `nn.Linear` or of GPT-2's `Conv1D` (weight [in, out])."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, Conv1D):
        return module.weight.size(0), module.nf
    raise ConfigurationError(f"Cannot size {type(module).__name__} for LoRA")


def _row(lm: PreTrainedModel) -> Architecture:
    return architecture(lm.config.model_type)
