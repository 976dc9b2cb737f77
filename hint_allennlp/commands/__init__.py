from hint_allennlp.commands.compile_tasks import CompileTasks
from hint_allennlp.commands.make_suite import MakeSuite
from hint_allennlp.commands.prepare_p3 import PrepareP3
from hint_allennlp.commands.registered import ListRegistered
