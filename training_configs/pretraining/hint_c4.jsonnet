// Hypernetwork pretraining of HINT on C4 (paper §3.3; 'Ours' in Table 4). Start the SNI and P3
// runs from its weights with the `pretrained_weights` setting.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint', settings=settings)
