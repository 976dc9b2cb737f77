// Pretraining for Table 5 'LoRA (r = 128)' on C4 with the paper's scheme (the authors'
// scripts/pretraining/pretrain_only_lora_no_fid_smaller.sh). Then
// sni/def/hint_without_fusion_lora.jsonnet with `pretrained_weights`.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint_without_fusion_lora', parts=3, settings=settings)
