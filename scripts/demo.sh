#!/usr/bin/env bash
# The main job (`make demo`, which puts .venv/bin first on PATH): the paper's comparison in miniature,
# on the CPU in a few minutes, entirely through the `allennlp` CLI and the configs in
# training_configs/demo/ (docs/demo.md):
#   1. `allennlp hint-make-suite`: an instruction suite written as SNI task files, where only the
#      instruction decides the answer; and the demo's randomly initialised T5;
#   2. `allennlp train` HINT, Tk-Instruct and No-Instruct on it, side by side (each final model is
#      scored on the training tasks' held-out inputs as validation and on the unseen tasks as
#      test); meanwhile a short HINT run on the fixture SNI tasks, the real format end to end;
#   3. `allennlp predict` on the unseen task files with each model, at 0 and 2 positive examples,
#      timed;
#   4. the side-by-side table and a plot of quality against inference cost.
# Everything is written to output/demo/ (git-ignored): the runs, the full logs, the predictions.
set -euo pipefail
cd "$(dirname "$0")/.."

OUTPUT=output/demo
SUITE=$OUTPUT/suite
MODELS="hint tk_instruct no_instruct"
declare -A NAMES=([hint]=HINT [tk_instruct]=Tk-Instruct [no_instruct]=No-Instruct)
FIXTURE_EXPERIMENT=training_configs/tiny/hint_def_2pos.jsonnet
FIXTURE_STEPS=20  # enough to take the real format through train and evaluate

# Condenses allennlp's log of a training run (file-friendly: one tqdm status line every few seconds)
# to the progress, each line headed by the model's name ($1), until process $2 ends.
show_progress() {
  tail -n +1 -F --pid="$2" "$OUTPUT/train_$1.log" 2> /dev/null | awk -v model="${NAMES[$1]}" '
    function value(name) {  # the number after "<name>: " at the start of the line or after ", "
      if (!match($0, "(^|, )" name ": [0-9.]+")) return "?"
      number = substr($0, RSTART, RLENGTH)
      sub(/.*: /, "", number)
      return number
    }
    function show(text) { if (text != last) printf "  %-12s%s\n", model, text; last = text; fflush() }
    /gradient_descent_trainer - Epoch [0-9]+\/[0-9]+$/ {
      split($NF, epoch, "/"); shown_batch = 0
      show(sprintf("  epoch %d of %d", epoch[1] + 1, epoch[2] + 1))
    }
    /gradient_descent_trainer - Validating$/ { validating = 1; show("  scoring the seen tasks (validation)") }
    /batch_loss: .*\|\|/ && !validating {  # about every fifth of an epoch
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
    /will be evaluated using/ { show("  scoring the unseen tasks (test)") }
  '
}

# One thread per process: a tiny model gains little from two, and two threads slow down many
# times over when anything else runs on the machine.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

start=$SECONDS
rm -rf "$OUTPUT"
mkdir -p "$OUTPUT"

echo "== 1/3 the instruction suite ($SUITE) and the demo's T5 ($OUTPUT/t5)"
python -m hint_allennlp.testing.tiny_t5 --demo "$OUTPUT/t5" > "$OUTPUT/t5.log" 2>&1 &
t5_build=$!
allennlp hint-make-suite "$SUITE" 2> "$OUTPUT/make_suite.log"
wait "$t5_build" || { cat "$OUTPUT/t5.log" >&2; exit 1; }

# allennlp train with model $1: it scores the final model on the training tasks' held-out inputs
# (validation, the seen tasks) and on the unseen tasks (test).
train() {
  allennlp train "training_configs/demo/$1.jsonnet" --serialization-dir "$OUTPUT/$1" --file-friendly-logging \
    > "$OUTPUT/train_$1.log" 2>&1 || fail "$OUTPUT/train_$1.log"
}

# allennlp predict with model $1 at $2 positive examples; its log and end time give the timing.
predict() {
  local name="predict_$1_$2pos"
  allennlp predict "$OUTPUT/$1/model.tar.gz" "$OUTPUT/unseen_tasks.json" --silent --file-friendly-logging \
    --output-file "$OUTPUT/$name.jsonl" -o "{\"dataset_reader.num_positive_examples\": $2}" \
    > "$OUTPUT/$name.log" 2>&1 || fail "$OUTPUT/$name.log"
  date +%s.%N > "$OUTPUT/$name.end"
}

fail() {
  echo "failed; the end of $1:" >&2
  tail -n 30 "$1" >&2
  exit 1
}

# The unseen tasks' files one after the other, what `allennlp predict` reads: 4 tasks of 50 inputs.
sed "s|.*|$SUITE/tasks/&.json|" "$SUITE/splits/test_tasks.txt" | xargs cat > "$OUTPUT/unseen_tasks.json"

# Tk-Instruct, which reads the instruction with every input, trains longest: it gets a core of its
# own, and everything else shares the other one (niced). Each timed `allennlp predict` has a core to
# itself while the other core works: after Tk-Instruct's training, its two predictions one after
# the other; after the other trainings, HINT's and No-Instruct's.
echo "== 2/3 allennlp train, side by side: $MODELS (logs: $OUTPUT/train_*.log), and HINT on the fixture SNI"
echo "        tasks, $FIXTURE_STEPS steps ($OUTPUT/train_fixture_sni.log); then allennlp predict on the unseen tasks"
echo "        at 0 and 2 positive examples, timed ($OUTPUT/predict_*.log)."
(
  train tk_instruct &
  tk_instruct=$!
  show_progress tk_instruct $tk_instruct &
  wait "$tk_instruct"
  predict tk_instruct 0
  predict tk_instruct 2
) &
pids=$!
(
  renice -n 10 -p "$BASHPID" > /dev/null
  train hint &
  hint=$!
  show_progress hint $hint &
  train no_instruct &
  no_instruct=$!
  allennlp train "$FIXTURE_EXPERIMENT" --serialization-dir "$OUTPUT/fixture_sni" --file-friendly-logging \
    -o "{\"trainer.num_epochs\": 1, \"data_loader.batches_per_epoch\": $FIXTURE_STEPS}" \
    > "$OUTPUT/train_fixture_sni.log" 2>&1 || fail "$OUTPUT/train_fixture_sni.log"
  wait "$hint"
  wait "$no_instruct"
  predict hint 0
  predict hint 2
  predict no_instruct 0  # it never reads the instruction: positive examples change nothing
) &
pids="$pids $!"
for pid in $pids; do wait "$pid"; done

echo "== 3/3 summary"
# The CPU seconds of every process the script ran: bash's `times`, second line (children), taken in
# this shell (in a command substitution it would count the subshell's children: none).
times > "$OUTPUT/times.txt"
cpu_seconds=$(tail -n 1 "$OUTPUT/times.txt" | awk '{ split($1, user, /[ms]/); split($2, kernel, /[ms]/); print 60 * user[1] + user[2] + 60 * kernel[1] + kernel[2] }')
python scripts/demo_summary.py "$OUTPUT" "$((SECONDS - start))" "$cpu_seconds"
