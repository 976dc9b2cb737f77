import torch
from allennlp.training.optimizers import HuggingfaceAdafactor, Optimizer
from torch.distributed.tensor import DTensor, Replicate


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
    """

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for parameter in group["params"]:
                if isinstance(parameter, DTensor) and parameter.grad is not None and not self.state[parameter]:
                    self._init_sharded_state(group, parameter)
        return super().step(closure)

    def _init_sharded_state(self, group, parameter: DTensor) -> None:
        """HF Adafactor's state initialisation (transformers/optimization.py, `Adafactor.step`), as DTensors."""
        factored, use_first_moment = self._get_options(group, parameter.shape)
        zeros = torch.zeros_like(parameter, dtype=torch.float32)
        state = self.state[parameter]
        state["step"] = 0
        if use_first_moment:
            state["exp_avg"] = zeros.clone()
        if factored:
            state["exp_avg_sq_row"] = zeros.mean(dim=-1)  # [rows], sharded with the rows
            # [..., columns]: a mean over all rows, on every worker
            state["exp_avg_sq_col"] = zeros.mean(dim=-2).redistribute(parameter.device_mesh, [Replicate()])
        else:
            state["exp_avg_sq"] = zeros
        state["RMS"] = 0
