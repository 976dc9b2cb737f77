// HINT 'Def + 2 Pos.' on the tiny GPT-2 (the fixture SNI tasks, on the CPU): generated
// adapters, prefixes and instruction fusion on a causal LM (docs/causal_hint.md).
local hint = import '../hint.libsonnet';
function(settings=hint.tiny_cpu) hint.sni_decoder_only(
  'gpt2_xl',
  positive_examples=2,
  settings=settings,
  model=hint.generated_modules('cross_attention', adapters=true)
)
