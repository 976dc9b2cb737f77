// Table 5, 'Prefixes (l = 30)': HINT without instruction fusion generating prefixes only, of the
// backbone's length (P = 30 for xl, as the authors' scripts/nat_int/ni_train_only_prefix_no_fid.sh);
// SNI 'Def'. Pretrained with pretraining/hint_without_fusion_prefixes_c4.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion_prefixes', positive_examples=0, settings=settings)
