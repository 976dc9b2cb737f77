// Table 5, 'LoRA (r = 512)': as hint_without_fusion_lora.jsonnet with r = 512 (the authors'
// scripts/nat_int/ni_train_only_lora_no_fid.sh); SNI 'Def'. Pretrained with
// pretraining/hint_without_fusion_lora_512_c4.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={})
  hint.sni('hint_without_fusion_lora', positive_examples=0, settings={ lora_rank: 512 } + settings)
