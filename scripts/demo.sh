#!/usr/bin/env bash
# The main job (`make demo`, which puts .venv/bin first on PATH): a small HINT trained and used on
# the CPU in a few minutes, entirely through the `allennlp` CLI and the configs in training_configs/.
#   1. `allennlp train`: HINT ('Def + 2 Pos.') on the tiny T5 and the 8 fixture SNI training tasks;
#      the final model is then evaluated on the 4 held-out fixture tasks (RougeL, exact match, FLOPs);
#   2. `allennlp evaluate` on the training tasks, to set seen tasks against unseen ones;
#   3. `allennlp predict` on one held-out SNI task file;
#   4. a summary.
# Everything is written to output/demo/ (git-ignored): the run, the full logs, the predictions.
set -euo pipefail
cd "$(dirname "$0")/.."

OUTPUT=output/demo
EXPERIMENT=training_configs/tiny/hint_def_2pos.jsonnet
TRAIN_TASKS=fixtures/sni/splits/train_tasks.txt
PREDICT_TASK=fixtures/sni/tasks/task1612_sick_label_classification.json

# Condenses allennlp's log (file-friendly: one tqdm status line every few seconds) to the progress.
show_progress() {
  awk '
    function value(name) {  # the number after "<name>: " at the start of the line or after ", "
      if (!match($0, "(^|, )" name ": [0-9.]+")) return "?"
      number = substr($0, RSTART, RLENGTH)
      sub(/.*: /, "", number)
      return number
    }
    function show(text) { if (text != last) print text; last = text; fflush() }
    /gradient_descent_trainer - Epoch [0-9]+\/[0-9]+$/ {
      split($NF, epoch, "/"); shown_batch = 0
      show(sprintf("  epoch %d of %d", epoch[1] + 1, epoch[2] + 1))
    }
    /batch_loss: .*\|\|/ {  # about every fifth of an epoch
      match($0, /[0-9]+\/[0-9]+ \[/); split(substr($0, RSTART, RLENGTH - 2), batch, "/")
      if (batch[1] == batch[2] || batch[1] - shown_batch >= batch[2] / 5) {
        shown_batch = batch[1]
        show(sprintf("    batch %d/%d  loss %s", batch[1], batch[2], value("loss")))
      }
    }
    /^rougeL: / && !/batch_loss/ {
      show(sprintf("    RougeL %s  exact match %s (running average)", value("rougeL"), value("exact_match")))
    }
    /Epoch duration: / { sub(/.*Epoch duration: /, ""); sub(/\.[0-9]+$/, ""); show("    took " $0) }
    /Estimated training time remaining/ { sub(/.* - /, ""); show("    " $0) }
    /will be evaluated using/ { show("  evaluating the final model on the held-out tasks") }
  '
}

# allennlp "$@" with its whole output in $OUTPUT/<log>, showing the progress; on failure, the log's end.
run_allennlp() {
  local log="$OUTPUT/$1"
  shift
  if ! allennlp "$@" --file-friendly-logging 2>&1 | tee "$log" | show_progress; then
    echo "allennlp $1 failed; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

# One thread per process: a tiny model gains little from two, and two threads slow down many
# times over when anything else runs on the machine.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

start=$SECONDS
rm -rf "$OUTPUT"
mkdir -p "$OUTPUT"

echo "== 1/4 allennlp train $EXPERIMENT (log: $OUTPUT/train.log)"
run_allennlp train.log train "$EXPERIMENT" --serialization-dir "$OUTPUT/hint"

echo "== 2/4 allennlp evaluate on the training tasks (log: $OUTPUT/evaluate_training_tasks.log)"
run_allennlp evaluate_training_tasks.log evaluate "$OUTPUT/hint/model.tar.gz" "$TRAIN_TASKS" \
  --output-file "$OUTPUT/training_tasks_metrics.json"

echo "== 3/4 allennlp predict $PREDICT_TASK (log: $OUTPUT/predict.log)"
run_allennlp predict.log predict "$OUTPUT/hint/model.tar.gz" "$PREDICT_TASK" \
  --output-file "$OUTPUT/predictions.jsonl" --silent

echo "== 4/4 summary"
python - "$OUTPUT" "$EXPERIMENT" "$PREDICT_TASK" "$((SECONDS - start))" <<'EOF'
import json
import sys
from pathlib import Path

output, experiment, predict_task, seconds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
config = json.loads((output / "hint" / "config.json").read_text())
held_out = json.loads((output / "hint" / "metrics.json").read_text())
seen = json.loads((output / "training_tasks_metrics.json").read_text())
predictions = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]

trainer, loader = config["trainer"], config["data_loader"]
steps = trainer["num_epochs"] * loader["batches_per_epoch"] // trainer["num_gradient_accumulation_steps"]
examples_per_step = loader["batch_size"] * trainer["num_gradient_accumulation_steps"]
print(f"HINT ({experiment}): {config['model']['model_name']}, randomly initialised, trained for {steps} steps")
print(f"of {examples_per_step} examples with Adafactor (lr {trainer['optimizer']['lr']}); "
      f"final training loss {held_out['training_loss']:.2f}.")
print()
print(f"{'':28}{'RougeL':>8}{'exact match':>13}")
print(f"{'held-out tasks (unseen)':28}{held_out['test_rougeL']:8.1f}{held_out['test_exact_match']:13.1f}")
print(f"{'training tasks (seen)':28}{seen['rougeL']:8.1f}{seen['exact_match']:13.1f}")
print()
print(f"Inference FLOPs on the held-out tasks: {held_out['test_flops']:.3g}, "
      f"x{held_out['test_relative_flops']:.2f} those of Tk-Instruct (instruction concatenated to every input).")
print()
print(f"allennlp predict on {Path(predict_task).name}: {len(predictions)} instances, the first 3:")
for line in predictions[:3]:
    text = " ".join(line["input"].split())
    print(f"  input:      {text[:100]}{'...' if len(text) > 100 else ''}")
    print(f"  prediction: {line['prediction']!r}   reference: {line.get('references')}")
print()
print("A T5 of d_model 64 with random weights partly learns its 8 training tasks but cannot generalise to")
print("unseen ones from them; with a pretrained checkpoint and SNI's 757 training tasks, see the README, 'Training and evaluating'.")
print(f"Results in {output}/ (the run in hint/). Wall time: {seconds // 60} min {seconds % 60} s.")
EOF
