from typing import Any, Dict

import torch
from allennlp.training.optimizers import HuggingfaceAdafactor, Optimizer
from torch.distributed.tensor import DTensor, Replicate

# How a sharded state tensor is saved: this worker's part and where it sits in the whole.
LOCAL_PART, PLACEMENTS, SHAPE, STRIDE = "local_part", "placements", "shape", "stride"


@Optimizer.register("sharded_adafactor")
class ShardedAdafactor(HuggingfaceAdafactor):
    """
    AllenNLP's `huggingface_adafactor` that also steps parameters sharded by FSDP2 (`torch_fsdp`),
    with the same arguments. HF's Adafactor creates its state as plain tensors, which cannot be
    mixed with a sharded (DTensor) gradient; here the state of a sharded parameter is created as
    DTensors before HF's first step: the full second moment and the row factor sharded like the
    parameter, the column factor (a mean over every row, so over every worker) replicated. HF's
    step then runs unchanged and computes what it computes on the whole parameter (tested against
    DDP). Plain parameters are stepped exactly as by `huggingface_adafactor`.

    `state_dict` holds each worker's part of a sharded state tensor as a plain tensor (AllenNLP's
    checkpointer loads with a `map_location` function, which DTensors refuse);
    `load_state_dict` makes them DTensors again, on the worker of the same rank.
    """

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for parameter in group["params"]:
                if (
                    isinstance(parameter, DTensor)
                    and parameter.grad is not None
                    and not self.state[parameter]
                ):
                    self._init_sharded_state(group, parameter)
        return super().step(closure)

    def _init_sharded_state(self, group, parameter: DTensor) -> None:
        """
        HF Adafactor's state initialisation (transformers/optimization.py, `Adafactor.step`), as
        DTensors.
        """
        factored, use_first_moment = self._get_options(group, parameter.shape)
        zeros = torch.zeros_like(parameter, dtype=torch.float32)
        state = self.state[parameter]
        state["step"] = 0
        if use_first_moment:
            state["exp_avg"] = zeros.clone()
        if factored:
            state["exp_avg_sq_row"] = zeros.mean(dim=-1)  # [rows], sharded with the rows
            # [..., columns]: a mean over all rows, on every worker
            state["exp_avg_sq_col"] = zeros.mean(dim=-2).redistribute(
                parameter.device_mesh, [Replicate()]
            )
        else:
            state["exp_avg_sq"] = zeros
        state["RMS"] = 0

    def state_dict(self) -> Dict[str, Any]:
        state_dict = super().state_dict()
        for parameter_state in state_dict["state"].values():
            for key, value in parameter_state.items():
                if isinstance(value, DTensor):
                    parameter_state[key] = {
                        LOCAL_PART: value.to_local(),
                        PLACEMENTS: list(value.placements),
                        SHAPE: list(value.shape),
                        STRIDE: list(value.stride()),
                    }
        return state_dict

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for parameter, parameter_state in self.state.items():
            for key, value in parameter_state.items():
                if isinstance(value, dict) and LOCAL_PART in value:
                    parameter_state[key] = DTensor.from_local(
                        value[LOCAL_PART],
                        parameter.device_mesh,
                        value[PLACEMENTS],
                        run_check=False,
                        shape=torch.Size(value[SHAPE]),
                        stride=tuple(value[STRIDE]),
                    )
