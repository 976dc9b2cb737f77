// HINT 'Def + 2 Pos.' on the tiny OPT (the fixture SNI tasks, on the CPU): generated prefixes
// (OPT has no MLP module for adapters) and instruction fusion on a causal LM
// (docs/causal_hint.md).
local hint = import '../hint.libsonnet';
function(settings=hint.tiny_cpu) hint.sni_decoder_only(
  'opt_13b',
  positive_examples=2,
  settings=settings,
  model=hint.generated_modules('cross_attention', adapters=false)
)
