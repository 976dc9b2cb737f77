#!/usr/bin/env bash
# The main job (`make demo`): runs inside the project's virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
allennlp test-install
allennlp hint-registered
