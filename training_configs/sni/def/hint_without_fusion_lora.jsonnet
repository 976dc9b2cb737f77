// Table 5, LoRA rows: HINT without instruction fusion generating LoRA (x A B · 1/r on the query and
// value projections) instead of adapters and prefixes; r = 128, or 512 with the setting
// `lora_rank: 512`. Table 5's "Adapters + Prefixes" row is hint_without_fusion.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion_lora', positive_examples=0, settings=settings)
