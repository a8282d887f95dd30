"""benchmarks/gcivl_check.py: OGBench's GCIVL baseline, term by term and end to end (CPU)."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gcivl_check as gcivl  # noqa: E402


def test_reward_is_minus_one_until_the_goal_is_the_current_state():
    reward, mask = gcivl.goal_rewards(torch.tensor([0.0, 1.0, 0.0]))
    assert reward.tolist() == [-1.0, 0.0, -1.0]
    assert mask.tolist() == [1.0, 0.0, 1.0]  # no bootstrap from the goal


def test_expectile_loss_weights_positive_advantages_by_the_expectile():
    diff = torch.tensor([2.0, 2.0])
    loss = gcivl.expectile_loss(torch.tensor([0.5, -0.5]), diff, 0.9)
    assert torch.allclose(loss, torch.tensor([0.9 * 4.0, 0.1 * 4.0]))


def test_value_loss_regresses_each_member_on_its_own_target_with_the_targets_advantage():
    v = torch.tensor([[0.0], [1.0]])  # [E=2, B=1]
    v_target = torch.tensor([[-2.0], [-4.0]])
    next_v_target = torch.tensor([[-1.0], [-3.0]])
    reward, mask = torch.tensor([-1.0]), torch.tensor([1.0])
    got = gcivl.gcivl_value_loss(v, v_target, next_v_target, reward, mask, 0.5, 0.9)
    # advantage from the targets: -1 + 0.5 * min(-1, -3) - mean(-2, -4) = 0.5 >= 0 -> weight 0.9
    # member targets: -1 + 0.5 * -1 = -1.5 and -1 + 0.5 * -3 = -2.5
    want = 0.9 * ((-1.5 - 0.0) ** 2 + (-2.5 - 1.0) ** 2)
    assert got.item() == pytest.approx(want)


def test_awr_weights_use_the_ensemble_mean_and_are_capped_at_100():
    v = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    next_v = torch.tensor([[0.1, 1.0], [-0.1, 1.0]])
    weights = gcivl.awr_weights(v, next_v, alpha=10.0)
    assert weights[0].item() == pytest.approx(1.0)  # mean advantage 0
    assert weights[1].item() == 100.0  # exp(10) capped


def test_actor_log_likelihood_is_the_unit_gaussians():
    mean, actions = torch.randn(5, 3), torch.randn(5, 3)
    want = torch.distributions.Normal(mean, 1.0).log_prob(actions).sum(-1)
    assert torch.allclose(gcivl.unit_gaussian_log_prob(mean, actions), want, atol=1e-6)
    loss = gcivl.awr_actor_loss(mean, actions, torch.ones(5))
    assert loss.item() == pytest.approx(-want.mean().item(), rel=1e-6)


def test_target_network_moves_tau_of_the_way_to_the_online_one():
    model = gcivl.GCIVL(obs_dim=2, act_dim=2, hidden=8, layers=1)
    online = [p.detach().clone() for p in model.value.parameters()]
    with torch.no_grad():
        for p in model.value.parameters():
            p.add_(1.0)
    gcivl.polyak_(model.target_value.parameters(), model.value.parameters(), 0.25)
    for old, target in zip(online, model.target_value.parameters()):
        assert torch.allclose(target, old + 0.25)
    assert not any(p.requires_grad for p in model.target_value.parameters())


def test_about_a_fifth_of_the_value_goals_are_the_current_state(tiny_pointmaze_root):
    from rllib_tmd.data.episodes import read_episodes
    from rllib_tmd.data.samplers import TorchSampler

    dataset = tiny_pointmaze_root / "datasets" / "pointmaze-medium-navigate-v0.npz"
    sampler = gcivl.GoalReachedSampler(
        TorchSampler(read_episodes(dataset), gcivl.gcivl_goal_config(0.99), seed=0)
    )
    batch = sampler.sample(20_000)
    reached = batch["goal_reached"].bool()
    assert 0.18 < reached.float().mean().item() < 0.23  # p_curgoal 0.2 (+ rare random hits)
    assert torch.equal(batch["value_goals"][reached], batch["obs"][reached])


def test_a_short_run_logs_its_terms_and_scores_its_evaluation(tiny_pointmaze_root, tmp_path):
    dataset = tiny_pointmaze_root / "datasets" / "pointmaze-medium-navigate-v0.npz"
    out = tmp_path / "gcivl"
    result = gcivl.main(
        [
            *("--dataset", str(dataset), "--steps", "40", "--batch", "32"),
            *("--log-every", "20", "--eval-every", "40", "--eval-episodes", "1"),
            *("--eval-workers", "0", "--device", "cpu", "--out", str(out)),
        ]
    )
    assert result["env"] == "pointmaze-medium-navigate-v0" and result["steps"] == 40
    (evaluation,) = result["evaluations"]
    assert evaluation["step"] == 40 and result["score"] == evaluation["success"]
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    terms = [line for line in lines if "value_loss" in line]
    assert [t["step"] for t in terms] == [20, 40]
    assert all(math.isfinite(t["value_loss"]) and math.isfinite(t["actor_loss"]) for t in terms)
    assert np.isclose(terms[0]["total_loss"], terms[0]["value_loss"] + terms[0]["actor_loss"])


def test_compiled_steps_match_eager_steps_target_averaging_included(tiny_pointmaze_root):
    from rllib_tmd.data.episodes import read_episodes
    from rllib_tmd.data.samplers import TorchSampler
    from rllib_tmd.tmd.torch import fast_update as fu

    episodes = read_episodes(tiny_pointmaze_root / "datasets" / "pointmaze-medium-navigate-v0.npz")

    def run(compile_terms: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        torch.manual_seed(0)
        model = gcivl.GCIVL(obs_dim=2, act_dim=2, hidden=32, layers=2)
        with torch.no_grad():  # online and target apart, so that the averaging shows
            for p in model.value.parameters():
                p.add_(0.1)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
        sampler = gcivl.GoalReachedSampler(
            TorchSampler(episodes, gcivl.gcivl_goal_config(0.99), seed=0)
        )
        options = fu.FastUpdateOptions(torch_compile=compile_terms, compile_backend="aot_eager")
        terms = {"discount": 0.99, "expectile": 0.9, "alpha": 10.0, "tau": 0.1}
        updater = fu.FastUpdater(
            lambda m, b: gcivl.gcivl_terms(m, b, **terms), gcivl.TOTAL, options
        )
        history = fu.TermHistory(5, "cpu")
        updater.run(model, [optimizer], fu.ChunkedBatches(sampler, 16, 5), 5, history)
        assert updater.path == ("lean+compile" if compile_terms else "lean")
        return history.to_host(), [p.detach().clone() for p in model.target_value.parameters()]

    torch.manual_seed(0)
    initial = [p.detach().clone() for p in gcivl.GCIVL(2, 2, 32, 2).target_value.parameters()]
    eager_terms, eager_target = run(False)
    assert not torch.allclose(initial[0], eager_target[0], atol=1e-3)  # the target moved
    compiled_terms, compiled_target = run(True)
    assert torch.allclose(eager_terms, compiled_terms, rtol=1e-5, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(eager_target, compiled_target))


def test_gcivl_beside_suite_runs_both_on_one_machine(tmp_path):
    """benchmarks/gcivl_beside_suite.sh on the CPU: a stand-in nvidia-smi lists two GPUs, one
    GCIVL seed takes the last, the suite (one smoke trial) the other."""
    import os
    import subprocess

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    listing = "".join(f'echo "GPU {k}: stand-in"\n' for k in range(2))
    (fake_bin / "nvidia-smi").write_text("#!/bin/sh\n" + listing)
    (fake_bin / "nvidia-smi").chmod(0o755)
    job = tmp_path / "job"
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "GCIVL_DATASET": "pointmaze-medium-navigate",
        "GCIVL_SEEDS": "1",
        "GCIVL_EPISODES": "12",
        "GCIVL_WORKERS": "1",
        "GCIVL_EVAL_WORKERS": "0",
        "GCIVL_JOB_DIR": str(job),
        "GCIVL_ARGS": "--steps 20 --batch 32 --log-every 10 --eval-every 20 --eval-start 0 "
        "--eval-episodes 1 --device cpu",
    }
    suite_args = [
        *("--datasets", "pointmaze-medium-navigate", "--seeds", "1", "--smoke", "--cpu"),
        *("--stop-updates", "10", "--updates-per-iteration", "10", "--eval-episodes", "1"),
        *("--eval-workers", "0", "--data-dir", str(job / "data")),
        *("--storage", str(job / "runs"), "--out", str(job / "out")),
    ]
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gcivl_beside_suite.sh"), "5", *suite_args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    gcivl = json.loads((job / "out" / "gcivl-seed0" / "results.json").read_text())
    assert gcivl["steps"] == 20 and gcivl["evaluations"][0]["step"] == 20
    suite = json.loads((job / "out" / "suite.json").read_text())
    assert suite["rows"][0]["updates_per_seed"] == [10]


def test_value_learns_the_discounted_steps_to_the_goal_on_a_chain():
    """Episodes that walk one cell right per step along a 30-cell line: from the first cell,
    the goal d cells ahead is worth -(1 - discount**d) / (1 - discount) (reward -1 per step
    until the goal)."""
    from rllib_tmd.data.episodes import EpisodeArrays
    from rllib_tmd.data.samplers import TorchSampler
    from rllib_tmd.tmd.torch import fast_update as fu

    torch.manual_seed(0)
    cells, episodes, discount = 30, 40, 0.9
    observations = np.tile(np.eye(cells, dtype=np.float32), (episodes, 1))
    terminals = np.zeros(cells * episodes, dtype=np.float32)
    terminals[cells - 1 :: cells] = 1.0
    data = EpisodeArrays(observations, np.ones((len(terminals), 1), np.float32), terminals, {}, {})
    model = gcivl.GCIVL(obs_dim=cells, act_dim=1, hidden=64, layers=2)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    sampler = gcivl.GoalReachedSampler(
        TorchSampler(data, gcivl.gcivl_goal_config(discount), seed=0)
    )
    terms = {"discount": discount, "expectile": 0.9, "alpha": 10.0, "tau": 0.05}
    updater = fu.FastUpdater(lambda m, b: gcivl.gcivl_terms(m, b, **terms), gcivl.TOTAL)
    steps, batches = 3000, fu.ChunkedBatches(sampler, 256, 500)
    updater.run(model, [optimizer], batches, steps, fu.TermHistory(steps, "cpu"))
    start = torch.eye(cells)[[0] * cells]
    with torch.no_grad():
        value = model.values(model.value, start, torch.eye(cells)).mean(0).numpy()
    ahead = np.arange(cells)
    want = -(1 - discount**ahead) / (1 - discount)
    np.testing.assert_allclose(value, want, atol=0.6)  # within ~6 % of the -10 floor
    assert np.all(np.diff(value[:20]) < 0)  # farther goals are worth less
