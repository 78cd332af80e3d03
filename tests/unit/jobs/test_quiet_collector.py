"""`jobs.workers.quiet_collector`: during a run the collector leaves start-up's objects alone
and runs less often; afterwards everything is as it was."""

from __future__ import annotations

import gc

from digest.jobs.workers import YOUNG_COLLECTION_EVERY, quiet_collector


def test_the_collector_is_quieter_during_the_block_and_as_before_after_it():
    before = gc.get_threshold()
    with quiet_collector():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, *before[1:])
        cycle: list = []
        cycle.append(cycle)  # cycles made during the block are still collected
        del cycle
        assert gc.collect() >= 1
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
