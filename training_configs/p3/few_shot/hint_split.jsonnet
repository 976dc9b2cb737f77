// HINT (split) with few-shot examples in the hypernetwork's text, as the authors format and
// prune them; the data prepared with `allennlp hint-p3-prepare --shots k` (k = 1, 2, 4, 5).
// Paper: Table 3 'HINT (split)'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.p3('hint', mode='split', settings=settings, few_shot_placement='hypernetwork')
