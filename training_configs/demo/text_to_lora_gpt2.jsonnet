// Text-to-LoRA on the demo's GPT-2 (not run by `make demo`; docs/causal_hint.md): the
// decoder-only baseline's experiment (gpt2.jsonnet) with LoRA generated from the instruction.
local hint = import '../hint.libsonnet';
local gpt2 = import 'gpt2.jsonnet';
function(settings=null)
  (if settings == null then gpt2() else gpt2(settings)) {
    model+: hint.generated_modules('text_to_lora'),
  } + hint.text_to_lora_experiment
