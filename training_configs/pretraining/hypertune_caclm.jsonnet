// Pretraining of HyperTune as the authors ran it: CACLM on C4, T5 frozen (scripts/pretraining/
// pretrain_htune.sh: gins/pretrain_4part.gin, train_only_hnet.gin, hypertune.gin). Then
// sni/{def,def_2pos}/hypertune.jsonnet with `pretrained_weights` (Table 1 'HyperTune').
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hypertune', parts=4, settings=settings)
