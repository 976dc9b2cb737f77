"""
Where the data this package ships lies (`resources/`, described in `resources/README.md`): this
project's table of T0's datasets, and its table of the column layouts that `datasets` changed.
promptsource's templates do not ship: they are read from promptsource's own distribution
(`promptsource_distribution`).
"""

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent / "resources"
T0_DATASETS = RESOURCES / "t0_datasets.json"
COLUMN_MAPPINGS = RESOURCES / "column_mappings.json"
