// Pretraining of HINT without instruction fusion on C4 with CACLM (Table 4 'HINT - No Instr. Fus.',
// 'CACLM'; gins/pretrain_4part.gin). Then sni/def/hint_without_fusion.jsonnet with
// `pretrained_weights`.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint_without_fusion', parts=4, settings=settings)
