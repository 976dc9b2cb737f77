// Pretraining for Table 5 'Prefixes (l = 512)' on C4 with the paper's scheme. Then
// sni/def/hint_without_fusion_prefixes_512.jsonnet with `pretrained_weights`.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint_without_fusion_prefixes_512', parts=3, settings=settings)
