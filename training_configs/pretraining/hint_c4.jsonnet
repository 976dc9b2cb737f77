// Hypernetwork pretraining of HINT on C4 with the paper's scheme (§3.3; Table 4 'HINT', 'Ours';
// the authors' scripts/pretraining/pretrain.sh). Start the SNI and P3 runs from its weights with the
// `pretrained_weights` setting.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint', parts=3, settings=settings)
