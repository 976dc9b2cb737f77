"""
PyTorch's FSDP2 (`torch.distributed.fsdp.fully_shard`) as an AllenNLP `DdpAccelerator`: parameters,
gradients and optimizer state are sharded over the workers; each transformer block (of T5, or of a
decoder-only model) and the parameter generator is gathered only for its own forward and backward.
"""

import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from allennlp.models import Model
from allennlp.nn.parallel import DdpAccelerator, DdpWrappedModel
from allennlp.nn.parallel.ddp_accelerator import LoadStateDictReturnType, StateDictType
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.utils import clip_grad_norm_
from transformers import PreTrainedModel

from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator

# What each worker's checkpoint file holds besides its shards: the full shape of every sharded
# tensor, so that the files can be put together without a process group.
SHARDED_SHAPES = "sharded_shapes"
LOCAL_STATE = "local_state"


def sharding_units(model: torch.nn.Module) -> List[torch.nn.Module]:
    """
    The modules each sharded as one unit: the blocks that HF says must not be split over devices
    (`_no_split_modules` of every HF model inside: `T5Block`, `GPT2Block`, `OPTDecoderLayer`,
    `LlamaDecoderLayer`, ...) and every `ParameterGenerator`.
    """
    block_names = {
        name
        for module in model.modules()
        if isinstance(module, PreTrainedModel)
        for name in (module._no_split_modules or [])
    }
    # Along the class's bases: a block whose class was switched in place (`CheckpointedT5Block`).
    return [
        module
        for module in model.modules()
        if any(cls.__name__ in block_names for cls in type(module).__mro__)
        or isinstance(module, ParameterGenerator)
    ]


class TorchFsdpWrappedModel(DdpWrappedModel):
    """
    A model sharded by `fully_shard`. Its state (`state_dict`, what the checkpointer saves per
    worker) is this worker's shard of every sharded tensor, each dim-0 chunk as `fully_shard` cuts
    it, plus the full shapes; `consolidate_sharded_state` puts the workers' files together into the
    model's ordinary state dict (`best.th`, the archive's weights).
    """

    @property
    def is_sharded(self) -> bool:
        return True

    def state_dict(self, *args, **kwargs) -> StateDictType:
        local_state: Dict[str, torch.Tensor] = {}
        sharded_shapes: Dict[str, List[int]] = {}
        for name, tensor in self.model.state_dict(*args, **kwargs).items():
            if isinstance(tensor, DTensor):
                sharded_shapes[name] = list(tensor.shape)
                tensor = tensor.to_local()
            local_state[name] = tensor.detach().cpu()
        return {LOCAL_STATE: local_state, SHARDED_SHAPES: sharded_shapes}

    def load_state_dict(
        self, state_dict: StateDictType, strict: bool = True
    ) -> LoadStateDictReturnType:
        """Loads a state written by `state_dict` on the worker of the same rank."""
        local_state = state_dict[LOCAL_STATE]
        own_state = self.model.state_dict()
        missing = [name for name in own_state if name not in local_state]
        unexpected = [name for name in local_state if name not in own_state]
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"Sharded state does not fit the model: missing {missing}, unexpected {unexpected}"
            )
        with torch.no_grad():
            for name, tensor in own_state.items():
                if name in local_state:
                    target = tensor.to_local() if isinstance(tensor, DTensor) else tensor
                    target.copy_(local_state[name])
        return LoadStateDictReturnType(missing, unexpected)

    @staticmethod
    def consolidate_sharded_state(
        sharded_state_files: Sequence[Union[str, os.PathLike]],
    ) -> StateDictType:
        """Worker files (`*_w{rank}.th`, any order) -> the model's full state dict."""
        ranked = sorted(
            sharded_state_files, key=lambda path: int(str(path).rsplit("_w", 1)[1].split(".")[0])
        )
        states = [torch.load(path, map_location="cpu", weights_only=False) for path in ranked]
        full_state = {}
        for name, tensor in states[0][LOCAL_STATE].items():
            shape = states[0][SHARDED_SHAPES].get(name)
            if shape is None:  # replicated: every worker holds all of it
                full_state[name] = tensor
                continue
            full_state[name] = torch.cat([state[LOCAL_STATE][name] for state in states], dim=0)
            if list(full_state[name].shape) != shape:
                raise ValueError(
                    f"{name}: the shards of {len(states)} worker files {ranked} "
                    f"make {list(full_state[name].shape)}, "
                    f"not {shape}; are all the workers' files there?"
                )
        return full_state

    def clip_grad_norm_(self, max_norm: Union[float, int]) -> torch.Tensor:
        # The norm of sharded gradients is reduced over the workers.
        total_norm = clip_grad_norm_(
            [p for p in self.model.parameters() if p.grad is not None], max_norm
        )
        return total_norm.full_tensor() if isinstance(total_norm, DTensor) else total_norm


@DdpAccelerator.register("torch_fsdp")
class TorchFsdpAccelerator(DdpAccelerator):
    """
    Shards the model with PyTorch's FSDP2 over all workers (gloo on CPU, NCCL on GPUs): each
    transformer block (`sharding_units`: a `T5Block` of the T5 and of a separate instruction
    encoder, a decoder-only model's layer) and each `ParameterGenerator` is its own unit, gathered
    for its forward and backward and freed after them; the rest (embeddings, final layer norms)
    belongs to the model itself, the root unit. Gradients are averaged over the
    workers as under DDP, so training computes what DDP computes.

    In a config: `distributed: {cuda_devices: [...], ddp_accelerator: {type: "torch_fsdp"}}`
    (`fsdp: true` in `training_configs/hint.libsonnet`). Checkpoints are written per worker and
    `model.tar.gz` holds the consolidated, ordinary state dict.

    # Parameters

    reshard_after_forward : `bool`, optional (default = `True`)
        Free each unit's gathered parameters after its forward, gathering them again for backward
        (ZeRO-3); False keeps them until backward (ZeRO-2: less communication, more memory).
    local_rank : `int`, optional
    world_size : `int`, optional
    cuda_device : `Union[torch.device, int]`, optional (default = `-1`)
        Given by AllenNLP for each worker; not set in configs.
    """

    def __init__(
        self,
        *,
        reshard_after_forward: bool = True,
        local_rank: Optional[int] = None,
        world_size: Optional[int] = None,
        cuda_device: Union[torch.device, int] = -1,
    ) -> None:
        super().__init__(local_rank=local_rank, world_size=world_size, cuda_device=cuda_device)
        self.reshard_after_forward = reshard_after_forward

    def wrap_model(self, model: Model) -> Tuple[Model, DdpWrappedModel]:
        on_cpu = self.cuda_device == torch.device("cpu")
        if not on_cpu:
            model = model.cuda(self.cuda_device)
        mesh = init_device_mesh("cpu" if on_cpu else "cuda", (dist.get_world_size(),))
        for unit in sharding_units(model):
            fully_shard(unit, mesh=mesh, reshard_after_forward=self.reshard_after_forward)
        fully_shard(model, mesh=mesh, reshard_after_forward=self.reshard_after_forward)
        return model, TorchFsdpWrappedModel(
            model, local_rank=self.local_rank, world_size=self.world_size
        )
