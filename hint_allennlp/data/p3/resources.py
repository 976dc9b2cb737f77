"""
Where the data this package ships lies (`resources/`, with its sources and licence in
`resources/README.md`): promptsource 0.2.3's templates of the T0 datasets, T0's `datasets.csv` and
the authors' edited prompts.
"""

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent / "resources"
TEMPLATES_DIR = RESOURCES / "templates"
DATASETS_CSV = RESOURCES / "datasets.csv"
EDITED_PROMPTS = RESOURCES / "all_edited_prompts.txt"
