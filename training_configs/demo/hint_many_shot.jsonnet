// The demo's HINT (hint.jsonnet) with the definition and `shots` examples in chunks
// (`instruction_chunking`, training_configs/sni/many_shot/): the suite's 2 positive examples,
// then examples drawn from each task's training instances.
local demo = import 'suite.libsonnet';
function(settings=demo.settings, shots=8)
  demo.experiment((import '../sni/many_shot/hint.jsonnet')(settings, shots), settings)
