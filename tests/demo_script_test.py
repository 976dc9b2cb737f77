"""`scripts/demo.sh` (the main job, `make demo`) runs for minutes, so the suite does not run it; it
checks that the Python programs the script embeds at least compile."""
import re

import pytest

from tests import PROJECT_ROOT

DEMO = PROJECT_ROOT / "scripts" / "demo.sh"
EMBEDDED_PROGRAMS = re.findall(r"<<'EOF'\n(.*?)\nEOF\n", DEMO.read_text(), flags=re.DOTALL)


def test_the_demo_embeds_python_programs():
    assert EMBEDDED_PROGRAMS


@pytest.mark.parametrize("index", range(len(EMBEDDED_PROGRAMS)))
def test_embedded_program_compiles(index):
    compile(EMBEDDED_PROGRAMS[index], f"{DEMO}:heredoc {index}", "exec")
