// Table 5, 'Adapters (a = 512)': HINT without instruction fusion generating adapters only, of the
// backbone's size (a = 512 for xl, as the authors' scripts/nat_int/ni_train_only_adapter_no_fid.sh);
// SNI 'Def'. Pretrained with pretraining/hint_without_fusion_adapters_c4.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion_adapters', positive_examples=0, settings=settings)
