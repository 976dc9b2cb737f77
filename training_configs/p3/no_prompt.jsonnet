// No Prompt: T5 finetuned on the instance's fields alone, without prompt or hypernetwork. Paper:
// Table 2 / 9 'No Prompt'.
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('no_instruct', mode='no_prompt', settings=settings)
