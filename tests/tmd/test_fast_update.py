"""The lean single-learner update path (``rllib_tmd.tmd.torch.fast_update``), on the CPU.

* It is the same optimisation as RLlib's ``Learner._update``: same loss terms and the same
  parameters and Adam state after several updates from the same seed and batches.
* The CUDA graph's body (batch read at a device cursor, terms written at the cursor) computes
  the same updates; the graph control flow (warm-up, capture, replays across chunks,
  recapture when the optimizer state is replaced, fallback when capture fails) is driven on
  the CPU with an eager stand-in for ``CUDAGraph.replay``.
* Non-finite losses name the term and the (lifetime) update; checkpoints restore Adam state.
"""

from __future__ import annotations

import copy
import logging
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.utils.torch_utils import clip_gradients

from rllib_tmd import TMD, TMDConfig
from rllib_tmd.tmd import tmd_learner as keys
from rllib_tmd.tmd.default_tmd_rl_module import ACTIONS
from rllib_tmd.tmd.torch import fast_update as fu
from rllib_tmd.tmd.torch import tmd_torch_learner
from rllib_tmd.tmd.torch.default_tmd_torch_rl_module import DefaultTMDTorchRLModule
from rllib_tmd.tmd.torch.tmd_torch_learner import (
    forward_loss_terms,
    loss_hyperparameters,
    tmd_loss_terms,
)
from tests.tmd.conftest import TINY_TRAINING, tiny_config

OBS_DIM, ACT_DIM, B = 3, 2, 8
POINTMAZE_OBS_DIM = 2  # the tiny dataset's state width
SMALL_MODEL = {
    "latent_dim": 16,
    "hidden_dims": (32,),
    "actor_hidden_dims": (32,),
    "quasimetric_components": 4,
    "quasimetric_impl": "torch",
}
HP = loss_hyperparameters(TMDConfig().training(latent_dim=16))
FP32 = {"rtol": 1e-5, "atol": 1e-6}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: intra-op threads only add contention (tens of times slower when busy)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- helpers -----------------------------------------------------------------------------
def make_module(seed: int = 0) -> DefaultTMDTorchRLModule:
    torch.manual_seed(seed)
    return DefaultTMDTorchRLModule(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (2 * OBS_DIM,), np.float32),
        action_space=gym.spaces.Box(-1, 1, (ACT_DIM,), np.float32),
        model_config=SMALL_MODEL,
    )


def random_chunk(count: int, seed: int = 0, obs_dim: int = OBS_DIM) -> dict[str, torch.Tensor]:
    """``count`` batches ``{key: [count, B, dim]}``."""
    g = torch.Generator().manual_seed(seed)
    chunk = {
        k: torch.randn(count, B, obs_dim, generator=g)
        for k in ("obs", "next_obs", "value_goals", "actor_goals")
    }
    chunk[ACTIONS] = torch.rand(count, B, ACT_DIM, generator=g) * 2 - 1
    return chunk


def small_terms(module, batch):
    return forward_loss_terms(module, batch, HP)


def lean_step(module) -> fu.UpdateStep:
    step = fu.UpdateStep(small_terms, keys.TOTAL_LOSS)
    step.module, step.optimizers = module, [torch.optim.Adam(module.parameters(), lr=1e-3)]
    return step


class ListSampler:
    """Stands in for a goal sampler: serves rows of a fixed ``[n, B, dim]`` chunk in order."""

    def __init__(self, chunk: dict[str, torch.Tensor]) -> None:
        self.flat = {k: v.reshape(-1, v.shape[-1]) for k, v in chunk.items()}
        self.offset = 0

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        rows = slice(self.offset, self.offset + batch_size)
        self.offset += batch_size
        return {k: v[rows] for k, v in self.flat.items()}


def assert_same_parameters(a: torch.nn.Module, b: torch.nn.Module, **tol) -> None:
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, msg=name, **(tol or FP32))


def assert_same_adam_state(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    sa, sb = a.state_dict()["state"], b.state_dict()["state"]
    assert sa.keys() == sb.keys() and sa
    for key in sa:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(sa[key][name].cpu(), sb[key][name].cpu(), **FP32)


def build_learner(dataset, **flags):
    """A local (in-process) TMD learner on the tiny dataset; ``flags`` set as config attrs."""
    config = tiny_config(dataset["train_npz"], seed=7)
    for key, value in flags.items():
        setattr(config, key, value)
    config.validate()
    return config.build_learner()


def learner_parts(learner):
    module = learner.module[DEFAULT_MODULE_ID]
    return module, learner.get_optimizer(DEFAULT_MODULE_ID)


# ---- equivalence with RLlib's update ---------------------------------------------------------
@pytest.mark.parametrize(
    "flags",
    [
        {"grad_clip": None},
        {"grad_clip": 0.05},
        {"grad_clip": None, "stopgrad_psi_backup": True, "divergence": "bce"},
        {"grad_clip": None, "stopgrad_backup_target": False},
    ],
    ids=["no_clip", "clip", "stopgrad_bce", "target_gradient"],
)
def test_lean_path_equals_rllib_update_path(tiny_pointmaze, flags):
    rllib = build_learner(tiny_pointmaze, fast_update=False, **flags)
    lean = build_learner(tiny_pointmaze, **flags)
    (m_rllib, opt_rllib), (m_lean, opt_lean) = learner_parts(rllib), learner_parts(lean)
    m_lean.load_state_dict(m_rllib.state_dict())  # identical init (same seed anyway)
    for learner in (rllib, lean):  # identical batches: the same fixed list for both
        learner._batches = fu.ChunkedBatches(
            ListSampler(random_chunk(6, seed=1, obs_dim=POINTMAZE_OBS_DIM)), B, 4
        )
    for update in range(5):
        out_rllib, out_lean = rllib.run_updates(1), lean.run_updates(1)
        for name in keys.LOSS_TERM_KEYS + (keys.CONTRASTIVE_ACCURACY, keys.MEAN_ABS_Q):
            got = out_lean[DEFAULT_MODULE_ID][name].peek()
            want = out_rllib[DEFAULT_MODULE_ID][name].peek()
            assert got == pytest.approx(want, rel=1e-5, abs=1e-6), (update, name)
    assert (rllib.update_path, lean.update_path) == ("rllib", "lean")
    assert_same_parameters(m_rllib, m_lean)
    assert_same_adam_state(opt_rllib, opt_lean)
    assert opt_lean is lean._fast_updater.step.optimizers[0]  # RLlib's registered optimizer


def test_run_updates_with_own_sampler_matches_between_paths(tiny_pointmaze):
    """Same seed -> same sampled chunks on both paths -> same parameters after 7 updates
    spread over chunks of 3 batches."""
    learners = [build_learner(tiny_pointmaze, fast_update=flag) for flag in (False, True)]
    for learner in learners:
        learner._batches.capacity = 3
        learner.run_updates(7)
    assert_same_parameters(learner_parts(learners[0])[0], learner_parts(learners[1])[0])


@pytest.mark.parametrize("mode", ["value", "norm", "global_norm"])
def test_device_grad_clipping_equals_rllibs(mode):
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(5, 4, generator=g) * s for s in (0.01, 1.0, 30.0)]
    expected = {i: v.clone() for i, v in enumerate(grads)}
    clip_gradients(expected, grad_clip=0.5, grad_clip_by=mode)
    ours = [v.clone() for v in grads]
    fu.clip_gradients_(ours, 0.5, mode)
    for i, v in enumerate(ours):
        torch.testing.assert_close(v, expected[i])


def test_lean_path_blockers():
    config = TMDConfig()
    assert fu.lean_path_blocker(config) is None
    ddp = copy.deepcopy(config).learners(num_learners=2)
    assert fu.lean_path_blocker(ddp) is None  # the lean loop all-reduces gradients itself
    config.fast_update = False
    assert fu.lean_path_blocker(config) == "fast_update=False"


# ---- the CUDA graph's computation and control flow, on the CPU --------------------------------
def test_graph_body_computes_the_lean_updates():
    """``GraphedStep.body`` (what the graph records) run eagerly == plain lean steps."""
    chunk = random_chunk(4)
    reference, graphed_module = make_module(), make_module()
    step = lean_step(reference)
    want = [step({k: v[i] for k, v in chunk.items()}) for i in range(4)]
    graphed = fu.GraphedStep(lean_step(graphed_module), chunk, capacity=6)
    assert graphed.load(chunk) == 4
    for _ in range(4):
        graphed.body()
    assert int(graphed.cursor) == 4
    torch.testing.assert_close(graphed.history[:4], torch.stack(want), **FP32)
    assert_same_parameters(reference, graphed_module)


def halve_(grads):
    """A stand-in gradient all-reduce over two learners holding the same gradients."""
    for g in grads:
        g.mul_(0.5)


def test_data_parallel_graph_parts_compute_the_synced_update():
    """compute (graph 1) -> sync_flat (eager collective) -> apply (graph 2) == one synced step."""
    chunk = random_chunk(3)
    reference, split_module = make_module(), make_module()
    step = lean_step(reference)
    step.grad_sync = halve_
    want = [step({k: v[i] for k, v in chunk.items()}) for i in range(3)]
    split_step = lean_step(split_module)
    split_step.grad_sync = halve_
    graphed = fu.GraphedStep(split_step, chunk, capacity=4)
    graphed.load(chunk)
    for _ in range(3):
        graphed.compute()
        graphed.sync_flat()
        graphed.apply()
    torch.testing.assert_close(graphed.history[:3], torch.stack(want), **FP32)
    assert_same_parameters(reference, split_module)
    assert int(graphed.cursor) == 3


class EagerGraph:
    """Stand-in for ``torch.cuda.CUDAGraph`` on the CPU: replay = run the body eagerly."""

    captures = 0

    def __init__(self, body):
        self.replay = body
        EagerGraph.captures += 1


def fake_graph_methods(monkeypatch, fail_capture: bool = False):
    monkeypatch.setattr(fu, "cuda_graphs_supported", lambda device: True)

    def warmup(self, steps):
        for _ in range(steps):
            self.body()

    def capture(self, fingerprint):
        if fail_capture:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.graph, self.fingerprint = EagerGraph(self.body), fingerprint

    monkeypatch.setattr(fu.GraphedStep, "warmup", warmup)
    monkeypatch.setattr(fu.GraphedStep, "capture", capture)
    EagerGraph.captures = 0


def run_updater(updater, module, chunk, runs, capacity=3):
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    batches = fu.ChunkedBatches(ListSampler(chunk), B, capacity)
    histories = []
    for n in runs:
        history = fu.TermHistory(n, next(module.parameters()).device)
        updater.run(module, [optimizer], batches, n, history)
        histories.append(history.values)
    return optimizer, torch.cat(histories)


def test_graph_control_flow_replays_recaptures_and_matches_eager(monkeypatch):
    chunk = random_chunk(12)
    eager_module, graph_module = make_module(), make_module()
    eager = fu.FastUpdater(small_terms, keys.TOTAL_LOSS)
    _, want = run_updater(eager, eager_module, chunk, runs=(5, 7))

    fake_graph_methods(monkeypatch)
    options = fu.FastUpdateOptions(cuda_graph=True, warmup_steps=2)
    graph = fu.FastUpdater(small_terms, keys.TOTAL_LOSS, options)
    optimizer, got = run_updater(graph, graph_module, chunk, runs=(5, 7))
    assert graph.path == "lean+graph" and EagerGraph.captures == 1  # reused across calls
    torch.testing.assert_close(got, want, **FP32)
    assert_same_parameters(eager_module, graph_module)

    # A restore (RLlib: via numpy) replaces the Adam state tensors: capture again.
    optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    history = fu.TermHistory(2, "cpu")
    graph.run(
        graph_module, [optimizer], fu.ChunkedBatches(ListSampler(random_chunk(2)), B, 3), 2, history
    )
    assert EagerGraph.captures == 2


def test_failed_capture_falls_back_to_eager_without_losing_updates(monkeypatch, caplog):
    chunk = random_chunk(7)
    eager_module, graph_module = make_module(), make_module()
    eager = fu.FastUpdater(small_terms, keys.TOTAL_LOSS)
    _, want = run_updater(eager, eager_module, chunk, runs=(7,))

    fake_graph_methods(monkeypatch, fail_capture=True)
    options = fu.FastUpdateOptions(cuda_graph=True, warmup_steps=2)
    graph = fu.FastUpdater(small_terms, keys.TOTAL_LOSS, options)
    with caplog.at_level(logging.WARNING):
        _, got = run_updater(graph, graph_module, chunk, runs=(7,))
    assert "CUDA graph update disabled" in caplog.text and "stream is capturing" in caplog.text
    assert graph.path == "lean" and graph.graph_error
    torch.testing.assert_close(got, want, **FP32)  # 2 warm-up updates kept, none repeated
    assert_same_parameters(eager_module, graph_module)


def test_cuda_graph_flag_on_cpu_learner_warns_and_runs_eager(tiny_pointmaze, caplog):
    learner = build_learner(tiny_pointmaze, cuda_graph=True)
    with caplog.at_level(logging.WARNING):
        learner.run_updates(2)
    assert learner.update_path == "lean"
    assert "CUDA graphs need a CUDA device" in caplog.text


def test_capturable_optimizer_state_restored_on_cpu_still_steps():
    """A checkpoint of a capturable (CUDA-graph) Adam loads with capturable=True."""
    module = make_module()
    optimizer = torch.optim.Adam(module.parameters(), capturable=True)
    fu.set_capturable([optimizer], False)
    tmd_loss_terms(
        module.forward_train({k: v[0] for k, v in random_chunk(1).items()}),
        random_chunk(1)[ACTIONS][0],
        HP,
    )[keys.TOTAL_LOSS].backward()
    optimizer.step()
    assert not optimizer.param_groups[0]["capturable"]


# ---- torch.compile ---------------------------------------------------------------------------
def test_compiled_update_matches_eager():
    chunk = random_chunk(3)
    eager_module, compiled_module = make_module(), make_module()
    eager = lean_step(eager_module)
    compiled = lean_step(compiled_module)
    fn = fu.CompiledTermsFn(small_terms, backend="aot_eager")
    compiled.branches = [fu.Branch(fn, keys.TOTAL_LOSS)]
    for i in range(3):
        batch = {k: v[i] for k, v in chunk.items()}
        torch.testing.assert_close(compiled(batch), eager(batch), **FP32)
    assert fn.active and fn.confirmed and compiled.compiled
    assert_same_parameters(eager_module, compiled_module)


def test_failing_compile_falls_back_to_eager(caplog):
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no compiler here")

    module = make_module()
    fn = fu.CompiledTermsFn(small_terms, backend=broken_backend)
    batch = {k: v[0] for k, v in random_chunk(1).items()}
    with caplog.at_level(logging.WARNING):
        terms = fn(module, batch)
    assert not fn.active and "torch.compile of the update failed" in caplog.text
    assert torch.isfinite(terms[keys.TOTAL_LOSS])


class FailingBackward(torch.autograd.Function):
    """Identity whose backward raises, like a compiled backward that fails to compile."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("backward failed to compile")


def test_failing_compiled_backward_redoes_the_step_eagerly(caplog):
    def broken_compiled(module, batch):
        terms = dict(small_terms(module, batch))
        terms[keys.TOTAL_LOSS] = FailingBackward.apply(terms[keys.TOTAL_LOSS])
        return terms

    module, reference = make_module(), make_module()
    step, eager = lean_step(module), lean_step(reference)
    fn = fu.CompiledTermsFn(small_terms, backend="eager")
    fn._compiled = broken_compiled  # stands in for the compiled function
    step.branches = [fu.Branch(fn, keys.TOTAL_LOSS)]
    batch = {k: v[0] for k, v in random_chunk(1).items()}
    with caplog.at_level(logging.WARNING):
        torch.testing.assert_close(step(batch), eager(batch), **FP32)
    assert not fn.active and "backward failed to compile" in caplog.text
    assert_same_parameters(reference, module)  # the step ran once, eagerly


# ---- critic and actor as independent branches ----------------------------------------------
def branch_step(module, parallel: bool = False) -> fu.UpdateStep:
    step = fu.UpdateStep(
        tmd_torch_learner.tmd_update_branches(HP), keys.TOTAL_LOSS, parallel=parallel
    )
    step.module, step.optimizers = module, [torch.optim.Adam(module.parameters(), lr=1e-3)]
    return step


def test_critic_and_actor_branches_make_the_total_loss_update():
    """Differentiating the critic's and the actor's totals apart == differentiating their sum:
    same terms (total included) and parameters after 3 updates."""
    chunk = random_chunk(3)
    whole_module, branch_module = make_module(), make_module()
    whole, branches = lean_step(whole_module), branch_step(branch_module)
    for i in range(3):
        batch = {k: v[i] for k, v in chunk.items()}
        want, got = whole(batch), branches(batch)
        got_terms = dict(zip(branches.term_names, got))
        for name, value in zip(whole.term_names, want):
            torch.testing.assert_close(got_terms[name], value, **FP32, msg=name)
    assert set(branches.term_names) == set(whole.term_names)
    assert_same_parameters(whole_module, branch_module)


def test_branches_share_no_gradient():
    """The premise of running them apart: each branch's loss reaches disjoint parameters."""
    module = make_module()
    batch = {k: v[0] for k, v in random_chunk(1).items()}
    reached = []
    for branch in tmd_torch_learner.tmd_update_branches(HP):
        module.zero_grad(set_to_none=True)
        branch.terms_fn(module, batch)[branch.total_key].backward()
        reached.append({n for n, p in module.named_parameters() if p.grad is not None})
    critic, actor = reached
    assert critic and actor and not critic & actor
    assert all(n.startswith("critic.") for n in critic)
    assert all(not n.startswith("critic.") for n in actor)


def test_parallel_branches_are_a_no_op_off_cuda():
    module, reference = make_module(), make_module()
    step, serial = branch_step(module, parallel=True), branch_step(reference)
    assert not step.uses_streams(torch.device("cpu"))
    batch = {k: v[0] for k, v in random_chunk(1).items()}
    torch.testing.assert_close(step(batch), serial(batch), **FP32)


def test_a_failing_compiled_branch_alone_falls_back(caplog):
    """The actor branch's compiled backward fails: the step is redone with that branch eager
    and the critic branch still compiled; the result is one ordinary update."""
    module, reference = make_module(), make_module()
    step, eager = branch_step(module), branch_step(reference)
    critic, actor = step.branches

    def broken_actor(module, batch):
        terms = dict(actor.terms_fn(module, batch))
        terms[keys.ACTOR_LOSS] = FailingBackward.apply(terms[keys.ACTOR_LOSS])
        return terms

    compiled_critic = fu.CompiledTermsFn(critic.terms_fn, backend="eager")
    compiled_actor = fu.CompiledTermsFn(actor.terms_fn, backend="eager")
    compiled_actor._compiled = broken_actor
    step.branches = [
        fu.Branch(compiled_critic, keys.CRITIC_LOSS),
        fu.Branch(compiled_actor, keys.ACTOR_LOSS),
    ]
    batch = {k: v[0] for k, v in random_chunk(1).items()}
    with caplog.at_level(logging.WARNING):
        torch.testing.assert_close(step(batch), eager(batch), **FP32)
    assert compiled_critic.active and compiled_critic.confirmed and step.compiled
    assert not compiled_actor.active and "backward failed to compile" in caplog.text
    assert_same_parameters(reference, module)


def test_data_parallel_learners_keep_branches_in_series():
    options = fu.FastUpdateOptions(parallel_branches=True)
    branches = tmd_torch_learner.tmd_update_branches(HP)
    assert fu.FastUpdater(branches, keys.TOTAL_LOSS, options).step.parallel
    synced = fu.FastUpdater(branches, keys.TOTAL_LOSS, options, grad_sync=halve_)
    assert not synced.step.parallel


def test_an_update_is_a_terms_function_or_branches():
    assert fu.as_branches(small_terms, "t") == [fu.Branch(small_terms, "t")]
    with pytest.raises(TypeError, match="sequence of Branch"):
        fu.as_branches([small_terms], "t")
    with pytest.raises(TypeError, match="sequence of Branch"):
        fu.as_branches([], "t")


# ---- NaN detection and checkpoints -------------------------------------------------------------
@pytest.mark.parametrize("fast_update", [True, False])
def test_non_finite_term_names_term_and_lifetime_update(tiny_pointmaze, monkeypatch, fast_update):
    original = tmd_torch_learner.temporal_invariance_loss
    calls = {"n": 0}

    def nan_at_fourth_update(*args, **kwargs):
        calls["n"] += 1
        loss = original(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 4 else loss

    monkeypatch.setattr(tmd_torch_learner, "temporal_invariance_loss", nan_at_fourth_update)
    learner = build_learner(tiny_pointmaze, fast_update=fast_update)
    learner.run_updates(2)
    with pytest.raises(keys.NonFiniteLossError) as info:
        learner.run_updates(3)
    assert info.value.term == keys.TEMPORAL_INVARIANCE_LOSS
    assert info.value.update == 4
    assert "temporal_invariance_loss" in str(info.value) and "update 4" in str(info.value)
    shipped = pickle.loads(pickle.dumps(info.value))  # remote learners send it through Ray
    assert (shipped.term, shipped.update, str(shipped)) == (
        "temporal_invariance_loss",
        4,
        str(info.value),
    )


def test_checkpoint_restores_adam_state_of_the_lean_path(ray_session, tiny_pointmaze, tmp_path):
    config = tiny_config(tiny_pointmaze["train_npz"], seed=5)
    algo = config.build_algo()
    algo.train()
    learner = algo.learner_group._learner
    assert learner.update_path == "lean"
    saved = copy.deepcopy(learner.get_optimizer(DEFAULT_MODULE_ID).state_dict())
    checkpoint = algo.save(str(tmp_path / "ckpt")).checkpoint.path
    algo.stop()

    restored = TMD.from_checkpoint(checkpoint)
    learner = restored.learner_group._learner
    optimizer = learner.get_optimizer(DEFAULT_MODULE_ID)
    for key, state in saved["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(optimizer.state_dict()["state"][key][name].cpu(), value)
    steps = TINY_TRAINING["updates_per_iteration"]
    assert float(saved["state"][0]["step"]) == steps
    restored.train()  # the lean path continues from the restored Adam state
    assert learner.update_path == "lean"
    assert float(optimizer.state_dict()["state"][0]["step"]) == 2 * steps
    restored.stop()


def test_graph_is_captured_again_for_a_new_module_object(monkeypatch):
    """RLlib may rebuild the module on restore: the new object is trained, not the old one."""
    fake_graph_methods(monkeypatch)
    updater = fu.FastUpdater(
        small_terms, keys.TOTAL_LOSS, fu.FastUpdateOptions(cuda_graph=True, warmup_steps=1)
    )
    old, new = make_module(), make_module()
    run_updater(updater, old, random_chunk(3), runs=(3,))
    old_after, new_before = copy.deepcopy(old), copy.deepcopy(new)
    run_updater(updater, new, random_chunk(3, seed=1), runs=(3,))
    assert EagerGraph.captures == 2
    assert_same_parameters(old, old_after, rtol=0, atol=0)
    assert all(not torch.equal(a, b) for a, b in zip(new.parameters(), new_before.parameters()))


# ---- CUDA only (skipped here; run on a GPU machine) ------------------------------------------
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("impl", ["torch", "auto"])  # "auto": fused Triton MRN on CUDA
def test_real_cuda_graph_matches_eager_lean_path(impl):
    """Real capture + replays across chunk boundaries and two ``run`` calls == eager steps
    (capturable Adam differs from the default Adam only in rounding)."""
    chunk = {k: v.cuda() for k, v in random_chunk(12).items()}
    modules = []
    for _ in range(2):
        module = make_module()
        module.critic.head.impl = impl
        modules.append(module.cuda())
    eager = fu.FastUpdater(small_terms, keys.TOTAL_LOSS)
    _, want = run_updater(eager, modules[0], chunk, runs=(5, 7))
    options = fu.FastUpdateOptions(cuda_graph=True)
    graph = fu.FastUpdater(small_terms, keys.TOTAL_LOSS, options)
    _, got = run_updater(graph, modules[1], chunk, runs=(5, 7))
    assert graph.graph_error is None and graph.path == "lean+graph"
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert_same_parameters(modules[0], modules[1], rtol=1e-4, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize("graph", [False, True])
def test_real_parallel_branches_match_serial_updates(graph):
    """Critic and actor on two CUDA streams (eager, and captured as one graph with both
    streams) == the same branches one after the other."""
    chunk = {k: v.cuda() for k, v in random_chunk(12).items()}
    modules = [make_module().cuda() for _ in range(2)]
    branches = tmd_torch_learner.tmd_update_branches(HP)
    serial = fu.FastUpdater(branches, keys.TOTAL_LOSS)
    _, want = run_updater(serial, modules[0], chunk, runs=(5, 7))
    options = fu.FastUpdateOptions(cuda_graph=graph, parallel_branches=True)
    parallel = fu.FastUpdater(branches, keys.TOTAL_LOSS, options)
    _, got = run_updater(parallel, modules[1], chunk, runs=(5, 7))
    assert parallel.graph_error is None
    assert parallel.path == ("lean+graph+streams" if graph else "lean+streams")
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert_same_parameters(modules[0], modules[1], rtol=1e-4, atol=1e-5)


@needs_cuda
def test_gpu_learner_runs_the_graph_path(ray_session, tiny_pointmaze):
    config_flags = {"num_gpus_per_learner": 1}
    rllib = build_learner(tiny_pointmaze, fast_update=False, **config_flags)
    graph = build_learner(tiny_pointmaze, **config_flags)  # the CUDA defaults
    learner_parts(graph)[0].load_state_dict(learner_parts(rllib)[0].state_dict())
    for _ in range(2):
        out_rllib, out_graph = rllib.run_updates(6), graph.run_updates(6)
    assert graph.update_path == "lean+compile+graph+streams", graph._fast_updater.graph_error
    got = out_graph[DEFAULT_MODULE_ID][keys.TOTAL_LOSS].peek()
    assert got == pytest.approx(out_rllib[DEFAULT_MODULE_ID][keys.TOTAL_LOSS].peek(), rel=1e-3)
    assert_same_parameters(learner_parts(rllib)[0], learner_parts(graph)[0], rtol=1e-3, atol=1e-4)


def test_auto_speed_switches_are_on_for_cuda_only():
    assert fu.resolve_auto("auto", "cuda") and fu.resolve_auto("auto", torch.device("cuda", 0))
    assert not fu.resolve_auto("auto", "cpu")
    assert fu.resolve_auto(True, "cpu") and not fu.resolve_auto(False, "cuda")
    config = TMDConfig()  # defaults: graph + compile + fused Adam on CUDA only
    on_cuda = fu.FastUpdateOptions.from_config(config, "cuda")
    assert on_cuda.cuda_graph and on_cuda.torch_compile and on_cuda.fused_adam
    assert on_cuda.parallel_branches
    on_cpu = fu.FastUpdateOptions.from_config(config, "cpu")
    assert not (on_cpu.cuda_graph or on_cpu.torch_compile or on_cpu.fused_adam)
    assert not on_cpu.parallel_branches
    assert on_cuda.compile_mode is None  # torch_compile_mode="default"
    tuned = TMDConfig().training(torch_compile_mode="max-autotune-no-cudagraphs")
    assert fu.FastUpdateOptions.from_config(tuned, "cuda").compile_mode == (
        "max-autotune-no-cudagraphs"
    )
    big = TMDConfig().training(train_batch_size_per_learner=fu.PARALLEL_BRANCHES_MAX_BATCH * 2)
    assert not fu.FastUpdateOptions.from_config(big, "cuda").parallel_branches
    big.parallel_update_branches = True  # an explicit True is obeyed at any batch size
    assert fu.FastUpdateOptions.from_config(big, "cuda").parallel_branches
