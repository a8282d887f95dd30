"""The env and data subpackages work without Ray: a tool that only evaluates a policy or
generates data (``benchmarks/authors_to_1m.sh`` runs the authors' agent on a machine without
the Ray wheel) imports ``rllib_tmd`` all the same, and ``rllib-tmd make-dataset`` runs."""

import subprocess
import sys
import textwrap


def test_env_and_data_tools_import_without_ray():
    script = textwrap.dedent("""
        import sys
        sys.modules["ray"] = None  # as if Ray were not installed
        import rllib_tmd
        from rllib_tmd.data.generate import generate_dataset
        from rllib_tmd.envs.evaluation import evaluate_policy
        from rllib_tmd.envs.maze_maps import write_maze_map
        try:
            rllib_tmd.TMD
        except ImportError as error:
            print("ERROR", error)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ERROR rllib_tmd.TMD needs Ray RLlib" in proc.stdout


def test_the_make_dataset_command_runs_without_ray(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["ray"] = None  # as if Ray were not installed
        from rllib_tmd.cli import main
        sys.exit(main(["make-dataset", "pointmaze-medium-navigate-v0", "--out", r"{tmp_path}",
                       "--episodes", "2", "--workers", "1"]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "pointmaze-medium-navigate-v0" / "metadata.json").is_file()
