"""
promptsource's own renderer, for differential tests: `promptsource/templates.py` of the cached
promptsource 0.2.3 source archive (the one `hint-p3-prepare` reads its templates from), executed at
test time as a module of its own, and its `Template` objects loaded from the archive's
`templates.yaml` files with PyYAML as promptsource loads them. Nothing of promptsource's code is in
this repository.

`templates.py` imports jinja2, PyYAML, pandas and pkg_resources at module level; it uses
pkg_resources only to locate its installed `templates/` folder, which it never reads here, so
pkg_resources is replaced by a stand-in while the module runs its top level.
"""

import random
import sys
import tarfile
import types
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from hint_allennlp.data.p3.promptsource_distribution import (
    ARCHIVE_MEMBER,
    PROMPTSOURCE_VERSION,
    cached_sdist,
)

TEMPLATES_MODULE = f"promptsource-{PROMPTSOURCE_VERSION}/promptsource/templates.py"


@lru_cache(maxsize=None)
def promptsource_module() -> types.ModuleType:
    """promptsource's `templates.py`, run from the archive."""
    path = cached_sdist()
    with tarfile.open(path) as archive:
        member = archive.extractfile(TEMPLATES_MODULE)
        assert member is not None, f"{path} has no {TEMPLATES_MODULE}"
        source = member.read().decode("utf-8")
    module = types.ModuleType("promptsource_reference_templates")
    module.__file__ = f"{path}:{TEMPLATES_MODULE}"
    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_filename = lambda package, name: f"{path}:{name}"  # type: ignore[attr-defined]
    saved = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = stand_in
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        if saved is None:
            del sys.modules["pkg_resources"]
        else:
            sys.modules["pkg_resources"] = saved
    return module


@lru_cache(maxsize=None)
def promptsource_templates(folder: str) -> Dict[str, Any]:
    """promptsource's `Template` objects of a dataset folder, by name."""
    module = promptsource_module()
    with tarfile.open(cached_sdist()) as archive:
        for member in archive:
            match = ARCHIVE_MEMBER.match(member.name)
            if match and match["folder"] == folder:
                text = archive.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                break
        else:
            raise AssertionError(f"no templates of {folder} in {cached_sdist()}")
    # The module's `Template` registered its YAML tags on PyYAML's FullLoader when it ran, as in
    # promptsource's `DatasetTemplates.read_from_file`.
    document = yaml.load(text, Loader=yaml.FullLoader)
    templates = {template.name: template for template in document["templates"].values()}
    assert all(isinstance(t, module.Template) for t in templates.values())
    return templates


def promptsource_render(
    folder: str, template: str, example: Mapping[str, Any], seed: str
) -> Tuple[Optional[List[str]], Optional[List[str]], Optional[str]]:
    """
    `(Template.apply(example), get_answer_choices_list(example), None)`, each after
    `random.seed(seed)`, or `(None, None, error)` where promptsource raises.
    """
    reference = promptsource_templates(folder)[template]
    state = random.getstate()
    try:
        random.seed(seed)
        parts = reference.apply(dict(example))
        random.seed(seed)
        choices = reference.get_answer_choices_list(dict(example))
    except Exception as error:  # what promptsource raises on bad data varies
        return None, None, f"{type(error).__name__}: {error}"
    finally:
        random.setstate(state)
    return parts, choices, None
