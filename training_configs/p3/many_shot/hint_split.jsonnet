// HINT (split); P3 with `shots` few-shot examples in the hypernetwork's text, past its 512-token
// window: the shots and the prompt in chunks of at most 512 tokens, encoded one by one (setting
// `instruction_chunking`), none pruned. The data prepared with `allennlp hint-p3-prepare --shots
// 64` (shots drawn from each task's train split, never the instance itself) serves every k <= 64.
// Not in the paper, whose Table 3 stops at 5 shots (p3/few_shot/).
local hint = import '../../hint.libsonnet';
function(settings={}, shots=32)
  hint.p3('hint', mode='split', settings={ instruction_chunking: 'packed' } + settings, few_shot_placement='hypernetwork', num_shots=shots)
