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


def test_the_critics_maze_ordering_is_shown_and_its_decay_noted_once():
    stream = io.StringIO()
    line = ProgressLine(updates_per_iteration=25_000, stream=stream)
    for updates, rho in ((25_000, 0.74), (50_000, 0.60), (75_000, 0.44), (100_000, 0.38)):
        evaluation = {"ogbench": {"success/overall": 0.1, "distance_rank_corr_bfs": rho}}
        line.update({"num_updates_lifetime": updates, "evaluation": evaluation})
    text = stream.getvalue()
    assert "| rho 0.74" in text and "| rho 0.38" in text
    # 0.74 -> 0.60 is within the tolerance; 0.44 is 0.30 below the best: one note, at 75k
    assert text.count("has decayed") == 1
    assert "was 0.74 at 25,000 updates and is 0.44 at 75,000" in text
