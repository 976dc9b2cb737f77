// T0 with few-shot examples before the encoder input, as the authors format and prune them; the
// data prepared with `allennlp hint-p3-prepare --shots k` (k = 1, 2, 4, 5). Paper: Table 3
// 'T0-3B (our repl.)'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.p3('tk_instruct', mode='prompt_only', settings=settings, few_shot_placement='input')
