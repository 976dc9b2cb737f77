// HINT; SNI with the definition and `shots` examples, past the hypernetwork's 1,024-token window:
// the instruction in chunks of at most 1,024 tokens, encoded one by one (setting
// `instruction_chunking`; the examples beyond a task's positive ones drawn from its instances).
// Not in the paper, whose Figure 3 stops at 5 positive examples (sni/def_5pos/).
local hint = import '../../hint.libsonnet';
function(settings={}, shots=32)
  hint.sni('hint', positive_examples=shots, settings={ instruction_chunking: 'packed' } + settings)
