"""
The mechanism shared by the dependency repairs (`hint_allennlp.compat`) and the guards of AllenNLP's
commands (`hint_allennlp.commands.guards`): a patch is a function registered with
`@REGISTRY.patch(versions, needed)`, applied by `REGISTRY.apply_all()` where `needed()` says the
stack in use has what it changes.
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import allennlp.version


@dataclass(frozen=True)
class Patch:
    """
    name : the function that applies it.
    versions : the versions it is for.
    needed : whether the stack in use has the break it repairs (False once it is applied).
    apply : applies it.
    """

    name: str
    versions: str
    needed: Callable[[], bool]
    apply: Callable[[], None]


class Patches:
    """The patches of one purpose, applied in the order they are registered."""

    def __init__(self) -> None:
        self.registered: Dict[str, Patch] = {}

    def patch(self, versions: str, needed: Callable[[], bool]) -> Callable:
        """Registers the decorated function as the patch that applies the change."""

        def register(apply: Callable[[], None]) -> Callable[[], None]:
            self.registered[apply.__name__] = Patch(apply.__name__, versions, needed, apply)
            return apply

        return register

    def apply_all(self) -> List[str]:
        """Applies every patch this stack needs; returns their names."""
        applied = []
        for registered in self.registered.values():
            if registered.needed():
                registered.apply()
                applied.append(registered.name)
        return applied


def release(version: str) -> Tuple[int, ...]:
    """The leading numbers of a version string: "4.50.0.dev0" -> (4, 50, 0)."""
    numbers = []
    for part in version.split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


def mark(wrapper: Callable) -> Callable:
    """Marks `wrapper` as a patch's, so that the patch is not applied twice."""
    wrapper._hint_compat = True  # type: ignore[attr-defined]
    return wrapper


def is_marked(function: Callable) -> bool:
    return getattr(function, "_hint_compat", False)


def allennlp_2_10_1() -> bool:
    return allennlp.version.VERSION == "2.10.1"
