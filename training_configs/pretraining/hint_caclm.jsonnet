// Pretraining of HINT on C4 with CACLM, the 4-part split of Phang et al. (2022) (Table 4 'HINT',
// 'CACLM'; the authors' c4/c4_registry_4part.py, gins/pretrain_4part.gin in place of pretrain.gin
// in scripts/pretraining/pretrain.sh). Then sni/def/hint.jsonnet with `pretrained_weights`.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint', parts=4, settings=settings)
