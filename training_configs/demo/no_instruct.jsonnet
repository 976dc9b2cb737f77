// The demo's No-Instruct: the input alone, on the instruction suite (suite.libsonnet); what can be
// learned without reading the instruction.
local demo = import 'suite.libsonnet';
function(settings=demo.settings) demo.experiment((import '../sni/def/no_instruct.jsonnet')(settings), settings)
