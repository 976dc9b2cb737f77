// Table 5, 'LoRA (r = 128)': HINT without instruction fusion generating LoRA (x A B · 1/r on the
// query and value projections) of rank `lora_rank` instead of adapters and prefixes (the authors'
// scripts/nat_int/ni_train_only_lora_no_fid_smaller.sh); 'LoRA (r = 512)' is
// hint_without_fusion_lora_512.jsonnet, 'Adapters + Prefixes' hint_without_fusion.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion_lora', positive_examples=0, settings=settings)
