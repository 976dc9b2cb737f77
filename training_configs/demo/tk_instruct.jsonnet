// The demo's Tk-Instruct: the instruction concatenated to every input, 'Def + 2 Pos.', on the
// instruction suite (suite.libsonnet).
local demo = import 'suite.libsonnet';
function(settings=demo.settings) demo.experiment((import '../sni/def_2pos/tk_instruct.jsonnet')(settings), settings)
