#!/usr/bin/env bash
# HINT on the demo's instruction suite (docs/demo.md) under several settings, one after the other,
# each for the same number of steps of the demo's batches: the seen- and unseen-task scores of each,
# side by side (docs/benchmarks.md, "Task-grouped batches" and "Many-shot instructions").
#
#   bash scripts/demo_sweep.sh OUTPUT STEPS NAME=SETTINGS[;ARGUMENTS]...
#
# SETTINGS is a jsonnet object added to the demo's settings (training_configs/demo/suite.libsonnet),
# e.g. `grouped_4='{tasks_per_batch: 4}'`; `mixed='{}'` is the demo's own recipe. ARGUMENTS are
# further arguments of the config's function, e.g. `k8='{};shots=8'`; the config is the demo's
# HINT, or the environment's CONFIG (e.g. training_configs/demo/hint_many_shot.jsonnet; for the
# demo's GPT-2 configs, SETTINGS `demo.gpt2_settings` gives their checkpoint, which is built here).
# The environment's OVERRIDES, if set, goes to `allennlp train -o`. Writes each run to OUTPUT/NAME
# and the table to OUTPUT/table.md; a run already in OUTPUT with the same config is not trained
# again. Run from anywhere, with the project's .venv/bin first on PATH (as `make demo` does).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
OUTPUT=$1
STEPS=$2
CONFIG=${CONFIG:-training_configs/demo/hint.jsonnet}
shift 2
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
mkdir -p "$OUTPUT"
# The suite and the demo's T5, as `make demo` builds them, unless they are there already.
[ -d output/demo/suite ] || allennlp hint-make-suite output/demo/suite 2> "$OUTPUT/make_suite.log"
[ -f output/demo/t5/config.json ] || python -m hint_allennlp.testing.tiny_t5 --demo output/demo/t5 > "$OUTPUT/t5.log" 2>&1
[[ $CONFIG != *gpt2* ]] || [ -f output/demo/gpt2/config.json ] ||
  python -m hint_allennlp.testing.tiny_causal_lm gpt2 --demo output/demo/gpt2 > "$OUTPUT/gpt2.log" 2>&1

names=()
for run in "$@"; do
  name=${run%%=*}
  settings=${run#*=}
  arguments=""
  if [[ $settings == *";"* ]]; then
    arguments=", ${settings#*;}"
    settings=${settings%%;*}
  fi
  names+=("$name")
  config="$OUTPUT/$name.jsonnet"
  previous=$(cat "$config" 2> /dev/null || true)
  printf 'local demo = import "%s/training_configs/demo/suite.libsonnet";\n(import "%s/%s")(demo.settings { optimizer_steps: %d } + %s%s)\n' \
    "$PWD" "$PWD" "$CONFIG" "$STEPS" "$settings" "$arguments" > "$config"
  if [ "$previous" = "$(cat "$config")" ] && [ -f "$OUTPUT/$name/metrics.json" ]; then
    echo "== $name: done before ($OUTPUT/$name)"
    continue
  fi
  echo "== $name: $CONFIG, $settings$arguments, $STEPS steps ($OUTPUT/$name.log)"
  rm -rf "${OUTPUT:?}/$name"
  start=$SECONDS
  allennlp train "$config" -s "$OUTPUT/$name" --file-friendly-logging ${OVERRIDES:+-o "$OVERRIDES"} \
    > "$OUTPUT/$name.log" 2>&1 ||
    { tail -n 30 "$OUTPUT/$name.log" >&2; exit 1; }
  echo $((SECONDS - start)) > "$OUTPUT/$name/wall_seconds"
done
python - "$OUTPUT" "$STEPS" "${names[@]}" <<'PY'
import json, sys
from pathlib import Path

output, steps, names = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
lines = [
    "| run | settings | examples | seen EM | seen RougeL | unseen EM | unseen RougeL | train wall s |",
    "|---|---|---|---|---|---|---|---|",
]
for name in names:
    metrics = json.loads((output / name / "metrics.json").read_text())
    config = json.loads((output / name / "config.json").read_text())
    examples = steps * config["trainer"].get("num_gradient_accumulation_steps", 1) * (
        config["data_loader"].get("batch_size")
        or config["data_loader"]["batch_sampler"]["tasks_per_batch"]
        * config["data_loader"]["batch_sampler"]["examples_per_task"]
    )
    settings = (output / f"{name}.jsonnet").read_text().rsplit("} + ", 1)[1].rstrip(")\n")
    wall = (output / name / "wall_seconds").read_text().strip()
    lines.append(
        f"| {name} | `{settings}` | {examples} "
        f"| {metrics['validation_exact_match']:.1f} | {metrics['validation_rougeL']:.1f} "
        f"| {metrics['test_exact_match']:.1f} | {metrics['test_rougeL']:.1f} | {wall} |"
    )
table = "\n".join(lines)
print(table)
(output / "table.md").write_text(table + "\n")
PY
