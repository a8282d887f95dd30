"""The progress line of long runs (rllib_tmd.progress)."""

import io

from rllib_tmd.progress import ProgressLine


def test_the_last_evaluation_stays_on_the_line_with_its_stalled_share():
    stream = io.StringIO()
    line = ProgressLine(updates_per_iteration=1000, total_updates=4000, stream=stream)
    line.update({"num_updates_lifetime": 1000, "time_this_iter_s": 2.0})
    evaluation = {"ogbench": {"success/overall": 0.02, "stalled/overall": 0.9}}
    line.update({"num_updates_lifetime": 2000, "evaluation": evaluation})
    line.update({"num_updates_lifetime": 3000})  # no evaluation: the last one is kept
    line.update({"num_updates_lifetime": 4000, "evaluation": {"ogbench": {"success/overall": 0.5}}})
    lines = stream.getvalue().splitlines()
    assert "success" not in lines[0] and "500.0 upd/s" in lines[0] and "ETA" in lines[0]
    assert "success 2.0% (stalled 90%)" in lines[1] and "success 2.0% (stalled 90%)" in lines[2]
    assert "| success 50.0% |" in lines[3]  # an evaluation without the stall count
