// Pretraining for Table 5 'Adapters (a = 512)' on C4 with the paper's scheme (the authors'
// scripts/pretraining/pretrain_only_adapter_no_fid.sh). Then
// sni/def/hint_without_fusion_adapters.jsonnet with `pretrained_weights`.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint_without_fusion_adapters', parts=3, settings=settings)
