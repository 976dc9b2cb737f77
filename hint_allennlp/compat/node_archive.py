"""AllenNLP 2.10.1's `allennlp train` on a node other than the primary one."""

import functools
import logging

from hint_allennlp.compat import REPAIRS, patches

logger = logging.getLogger(__name__)


def every_node_archives() -> bool:
    from allennlp.commands import train

    return patches.allennlp_2_10_1() and not patches.is_marked(train.train_model)


@REPAIRS.patch("AllenNLP 2.10.1", needed=every_node_archives)
def archive_on_the_primary_node_only() -> None:
    """
    `allennlp train --node-rank 1` (any node but the primary, node 0) trains, then archives
    `best.th` from its own serialization directory, which only the primary writes: the run ends in
    `RuntimeError: weights file '.../best.th' does not exist` (or, with a directory shared by the
    nodes, races node 0 writing the same `model.tar.gz`). The other nodes now leave the archive to
    node 0.
    """
    from allennlp.commands import train

    train_model = train.train_model

    @patches.mark
    @functools.wraps(train_model)
    def train_model_archiving_on_node_0(*args, node_rank: int = 0, **kwargs):
        if node_rank == 0:
            return train_model(*args, node_rank=node_rank, **kwargs)
        archive_model = train.archive_model

        def leave_the_archive_to_node_0(serialization_dir, *_, **__) -> None:
            logger.info(
                "Node %d: model.tar.gz is written by node 0, not in %s",
                node_rank,
                serialization_dir,
            )

        train.archive_model = leave_the_archive_to_node_0
        try:
            return train_model(*args, node_rank=node_rank, **kwargs)
        finally:
            train.archive_model = archive_model

    train.train_model = train_model_archiving_on_node_0
