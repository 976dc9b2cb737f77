import pytest
import torch

from hint_allennlp.modules.inserted.task_state import TaskState
from hint_allennlp.modules.serving.task_cache import TaskCache, instruction_key


def modules(value: float) -> TaskState:
    return TaskState({"adapter_up_bias": torch.full((1, 2, 4), value)})


def test_least_recently_used_entry_is_evicted_first():
    cache = TaskCache(max_size=2)
    cache.put("a", modules(1.0))
    cache.put("b", modules(2.0))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", modules(3.0))
    assert "b" not in cache
    assert "a" in cache and "c" in cache
    assert len(cache) == 2


def test_put_of_a_known_key_refreshes_it_without_growing():
    cache = TaskCache(max_size=2)
    cache.put("a", modules(1.0))
    cache.put("b", modules(2.0))
    cache.put("a", modules(4.0))
    cache.put("c", modules(3.0))
    assert "b" not in cache
    assert cache.get("a")["adapter_up_bias"].max().item() == 4.0


def test_pinned_entries_are_never_evicted_and_do_not_count_against_the_size():
    cache = TaskCache(max_size=1)
    cache.pin("compiled", modules(9.0))
    cache.put("a", modules(1.0))
    cache.put("b", modules(2.0))
    assert "compiled" in cache and "b" in cache and "a" not in cache
    assert len(cache) == 2


def test_size_zero_stores_nothing_but_serves_pinned_entries():
    cache = TaskCache(max_size=0)
    assert not cache.enabled
    cache.put("a", modules(1.0))
    assert "a" not in cache
    cache.pin("compiled", modules(9.0))
    assert cache.enabled and cache.get("compiled") is not None


def test_negative_size_is_refused():
    with pytest.raises(ValueError, match=">= 0"):
        TaskCache(max_size=-1)


def test_instruction_key_depends_on_exact_ids_not_dtype():
    ids = torch.tensor([5, 6, 7])
    assert instruction_key(ids) == instruction_key(ids.to(torch.int32))
    assert instruction_key(ids) != instruction_key(torch.tensor([5, 6]))
    assert instruction_key(ids) != instruction_key(torch.tensor([7, 6, 5]))
