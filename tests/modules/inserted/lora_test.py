"""
LoRA as the paper's Table 5 runs it: `x W + x A B · alpha / r` on the query and value projections.
"""

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from torch import nn

from hint_allennlp.modules.backbones.t5 import attention_layers
from hint_allennlp.modules.inserted.injection import inject_task_modules
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.lora import LoraLinear
from hint_allennlp.modules.inserted.task_state import ActiveTaskState, TaskState
from tests.modules.inserted.injection_test import plain_t5


def test_lora_output_for_known_a_b_and_rank():
    """
    allenai/hyper-task-descriptions, hyper_task_descriptions/modeling/lora.py (`lora_linear`: the
    kernel becomes `kernel + lora_a @ lora_b * (alpha / rank)`, `alpha: int = 1`).
    """
    torch.manual_seed(0)
    linear = nn.Linear(3, 2, bias=False)
    active = ActiveTaskState()
    rank, alpha = 4, 2.0
    LoraLinear.convert(linear, attention_slot=1, projection="v", active=active, scale=alpha / rank)
    lora_a = (
        torch.arange(2 * 3 * rank, dtype=torch.float).view(1, 2, 3, rank) / 10
    )  # [Bm, slots, in, r]
    lora_b = torch.ones(1, 2, rank, 2)  # [Bm, slots, r, out]
    inputs = torch.tensor([[[1.0, 0.0, -1.0]]])  # [B, seq, in]
    with active.use(TaskState({"lora_v_a": lora_a, "lora_v_b": lora_b})):
        output = linear(inputs)
    # slot 1: A rows (1.2, 1.3, 1.4, 1.5), (1.6, ...), (2.0, 2.1, 2.2, 2.3);
    # x A = (-0.8,) * 4; x A B = -3.2
    expected = inputs @ linear.weight.T + (-3.2) * alpha / rank
    torch.testing.assert_close(output, expected)


def test_lora_targets_query_and_value_by_default_with_the_scale_of_the_config():
    """
    hyper_task_descriptions/modeling/lora.py (`lora_ranks = (4, None, 4, None)`: q and v) and the
    paper's runs, scripts/nat_int/ni_train_only_lora_no_fid{,_smaller}.sh
    (`HyperT5Config.lora_ranks="(512,None,512,None)"` / `"(128,None,128,None)"`).
    """
    peft = InsertedModulesConfig(use_adapters=False, use_prefixes=False, use_lora=True)
    assert (peft.lora_rank, peft.lora_projections, peft.lora_scale) == (128, ("q", "v"), 1 / 128)
    t5 = plain_t5()
    inject_task_modules(
        t5,
        InsertedModulesConfig(use_adapters=False, use_prefixes=False, use_lora=True, lora_rank=8),
        ActiveTaskState(),
    )
    for _, attention in attention_layers(t5):
        assert isinstance(attention.q, LoraLinear) and isinstance(attention.v, LoraLinear)
        assert type(attention.k) is nn.Linear and type(attention.o) is nn.Linear
        assert attention.q.scale == attention.v.scale == 1 / 8


def test_lora_projections_are_checked():
    with pytest.raises(ConfigurationError, match="lora_projections"):
        InsertedModulesConfig(use_lora=True, lora_projections=("q", "x"))
    with pytest.raises(ConfigurationError, match="lora_projections"):
        InsertedModulesConfig(use_lora=True, lora_projections=())


def test_a_rank_larger_than_the_projections_allow_is_warned_of(caplog):
    # The tiny T5: d_model 64, 4 heads x d_kv 16; an update of a 64 -> 64 projection has rank <= 64.
    lora_only = {"use_adapters": False, "use_prefixes": False, "use_lora": True}
    with caplog.at_level("WARNING", logger="hint_allennlp.modules.inserted.lora"):
        inject_task_modules(
            plain_t5(), InsertedModulesConfig(**lora_only, lora_rank=64), ActiveTaskState()
        )
    assert caplog.records == []
    with caplog.at_level("WARNING", logger="hint_allennlp.modules.inserted.lora"):
        inject_task_modules(
            plain_t5(), InsertedModulesConfig(**lora_only, lora_rank=128), ActiveTaskState()
        )
    [record] = caplog.records
    assert "lora_rank 128 is larger than LoRA can use" in record.getMessage()
    assert "has rank at most 64" in record.getMessage()
