// Table 6, '+ Decoder': HINT with the decoder generator (a hyper-decoder initialised from the T5
// decoder, without self-attention), prefixes only, with instruction fusion (the authors'
// gins/hypertune_embed.gin, scripts/nat_int/ni_train_pretrained_our_decoder.sh); SNI 'Def'.
// Pretrained with pretraining/hint_decoder_generator_c4.jsonnet.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_decoder_generator', positive_examples=0, settings=settings)
