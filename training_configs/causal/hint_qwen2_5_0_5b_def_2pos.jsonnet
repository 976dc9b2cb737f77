// HINT on Qwen2.5-0.5B, SNI 'Def + 2 Pos.' (docs/causal_hint.md): the paper's HINT (generated
// adapters and prefixes, instruction fusion) on a current small causal LM, with the fine-tuned
// decoder-only baseline's recipe (AdamW 2e-5, 5 epochs of batches of 32) so that the two differ
// only by the generated modules; the sizes of HINT on T5-Base (a = 64, P = 30).
local hint = import '../hint.libsonnet';
function(settings={}) hint.sni_decoder_only(
  'qwen2_5_0_5b',
  positive_examples=2,
  settings=settings,
  model=hint.generated_modules('cross_attention', adapter_size=64, prefix_length=30)
)
