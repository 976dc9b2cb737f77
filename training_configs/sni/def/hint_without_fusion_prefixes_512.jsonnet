// Table 5, 'Prefixes (l = 512)': HINT without instruction fusion generating prefixes only, of the
// length the variant fixes (the authors' scripts/nat_int/ni_train_pretrained_just_prefix.sh); SNI
// 'Def'. Pretrained with pretraining/hint_without_fusion_prefixes_512_c4.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion_prefixes_512', positive_examples=0, settings=settings)
