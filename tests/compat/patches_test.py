"""
Each repair in `hint_allennlp.compat` has a test in this folder that fails without it, and one that
it is needed on the stack in use and switches itself off where the break is absent.
"""

import pytest

import hint_allennlp  # noqa: F401  (the repairs applied)
from hint_allennlp import compat
from hint_allennlp.compat import patches, tokenizer_kwargs


def test_every_repair_is_needed_on_this_stack_and_applied_once():
    assert list(compat.REPAIRS.registered) == [
        "keep_encoder_mask_in_generate",
        "archive_on_the_primary_node_only",
        "drop_add_special_tokens_kwarg",
    ]
    assert all(registered.versions for registered in compat.REPAIRS.registered.values())
    # Applied when hint_allennlp was imported: none is needed again.
    assert compat.REPAIRS.apply_all() == []


@pytest.mark.parametrize(
    "name, stack",
    [
        ("drop_add_special_tokens_kwarg", {"transformers": "4.41.2"}),
        ("archive_on_the_primary_node_only", {"allennlp": "2.9.3"}),
    ],
)
def test_a_repair_for_other_versions_is_not_applied(name, stack, monkeypatch):
    if "transformers" in stack:
        # The module it reads (importing some model classes replaces transformers' module).
        monkeypatch.setattr(tokenizer_kwargs.transformers, "__version__", stack["transformers"])
    if "allennlp" in stack:
        monkeypatch.setattr(patches.allennlp.version, "VERSION", stack["allennlp"])
    monkeypatch.setattr(patches, "is_marked", lambda function: False)  # as if not applied yet
    assert not compat.REPAIRS.registered[name].needed()
