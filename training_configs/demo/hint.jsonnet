// The demo's HINT: 'Def + 2 Pos.' on the instruction suite (suite.libsonnet).
local demo = import 'suite.libsonnet';
function(settings=demo.settings) demo.experiment((import '../sni/def_2pos/hint.jsonnet')(settings), settings)
