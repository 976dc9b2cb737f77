// Table 5, 'LoRA (r = 512)': HINT without instruction fusion generating LoRA on q and v of the rank
// the variant fixes (the authors' scripts/nat_int/ni_train_only_lora_no_fid.sh); SNI 'Def'.
// Pretrained with pretraining/hint_without_fusion_lora_512_c4.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion_lora_512', positive_examples=0, settings=settings)
