from benchmark.multilingual import CHECKPOINTS, TASKS, field_statistics
from tests import PROJECT_ROOT


def test_t5_s_vocabulary_loses_cyrillic_text_that_mt5_s_keeps(monkeypatch, tiny_mt5_checkpoint):
    monkeypatch.chdir(PROJECT_ROOT)  # the module names the fixtures from the project's root
    russian = TASKS["Russian (ru_country_capital)"]
    t5 = field_statistics(CHECKPOINTS["tiny T5"], russian)
    mt5 = field_statistics(CHECKPOINTS["tiny mT5"], russian)
    assert all(t5[field][1] > 0.1 for field in t5)
    assert all(mt5[field][1] == 0 for field in mt5)
