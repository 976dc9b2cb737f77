from allennlp.commands import train
from allennlp.common import Params

import hint_allennlp  # noqa: F401  (the repairs applied)


def test_only_the_primary_node_archives(tmp_path, monkeypatch):
    archived = []

    def archive_model(directory, **_):
        archived.append(directory)

    monkeypatch.setattr(train, "_train_worker", lambda **kwargs: None)  # no training
    monkeypatch.setattr(train, "archive_model", archive_model)
    for node_rank in (1, 0):
        train.train_model(Params({}), str(tmp_path / f"node{node_rank}"), node_rank=node_rank)
    assert archived == [str(tmp_path / "node0")]
    assert train.archive_model is archive_model  # put back after node 1's run
