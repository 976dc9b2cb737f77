// Pretraining of HINT without instruction fusion on C4 with the paper's scheme (Table 4 'HINT - No
// Instr. Fus.', 'Ours'; Table 6 '- Instr. Fus.'; Table 5 'Adapters + Prefixes'; the authors'
// scripts/pretraining/pretrain_prefix_no_fid.sh). Then sni/def/hint_without_fusion.jsonnet with
// `pretrained_weights`.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint_without_fusion', parts=3, settings=settings)
