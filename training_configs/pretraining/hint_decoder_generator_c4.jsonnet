// Pretraining of HINT with the decoder generator on C4 with the paper's scheme (Table 6 '+ Decoder';
// the authors' scripts/pretraining/pretrain_our_decoder.sh: gins/pretrain.gin,
// hypertune_full_train.gin). Then sni/def/hint_decoder_generator.jsonnet with `pretrained_weights`.
local hint = import '../hint.libsonnet';
function(settings={}) hint.pretraining('hint_decoder_generator', parts=3, settings=settings)
