// HyperTune (Phang et al., 2022) as the authors ran it: prefixes from a separate hyper-encoder and
// a hyper-decoder, initialised from T5's encoder and decoder, T5 frozen (gins/hypertune.gin with
// train_only_hnet.gin, scripts/nat_int/ni_train_htune.sh); SNI 'Def' (the task definition). Paper:
// Table 1 'HyperTune'. Pretrained with CACLM: pretraining/hypertune_caclm.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hypertune', positive_examples=0, settings=settings)
