"""
Where the data this package ships lies (`resources/`, with its sources and licences in
`resources/README.md`): promptsource 0.2.3's templates of the T0 datasets, and this project's
table of T0's datasets.
"""

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent / "resources"
TEMPLATES_DIR = RESOURCES / "templates"
T0_DATASETS = RESOURCES / "t0_datasets.json"
