// Table 5, 'Prefixes (l = 512)': as hint_without_fusion_prefixes.jsonnet with P = 512 (the authors'
// scripts/nat_int/ni_train_pretrained_just_prefix.sh); SNI 'Def'. Pretrained with
// pretraining/hint_without_fusion_prefixes_512_c4.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={})
  hint.sni('hint_without_fusion_prefixes', positive_examples=0, settings={ prefix_length: 512 } + settings)
