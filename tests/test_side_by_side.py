"""benchmarks/side_by_side.sh: several commands at once, each on its own GPUs, one exit code."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "side_by_side.sh"


def run(tmp_path: Path, jobs: str) -> subprocess.CompletedProcess:
    (tmp_path / "jobs.txt").write_text(jobs)
    return subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "jobs.txt")],
        env={"PATH": "/usr/bin:/bin", "SIDE_BY_SIDE_LOGS": str(tmp_path / "logs")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_each_job_sees_its_own_gpus_and_writes_its_own_log(tmp_path):
    done = run(
        tmp_path,
        "# two jobs\n0,1 echo gpus $CUDA_VISIBLE_DEVICES\n\n2,3 echo gpus $CUDA_VISIBLE_DEVICES\n",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "logs" / "job1.log").read_text() == "gpus 0,1\n"
    assert (tmp_path / "logs" / "job2.log").read_text() == "gpus 2,3\n"


def test_a_failing_job_fails_the_whole_after_the_others_finish(tmp_path):
    done = run(tmp_path, "0 exit 3\n1 sleep 0.5; echo finished\n")
    assert done.returncode == 3
    assert (tmp_path / "logs" / "job2.log").read_text() == "finished\n"
    assert "job1 ended (rc 3)" in done.stdout and "job2 ended (rc 0)" in done.stdout


def test_a_line_without_a_command_or_a_file_without_jobs_is_refused(tmp_path):
    assert run(tmp_path, "0\n").returncode == 2
    empty = run(tmp_path, "# nothing to run\n")
    assert empty.returncode == 2 and "no jobs" in empty.stderr
