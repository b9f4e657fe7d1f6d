"""Check data-parallel training: replicas stay identical, and match one process on the batch.

:func:`data_parallel_check` builds the same learner (DQN's or PPO's, from a preset) in
``world_size`` processes from the same seed. At each step every process makes the same global
batch of synthetic data, keeps its shard (rank ``r`` takes the ``r``-th equal slice), computes
gradients on it, averages them through :class:`rlkit.distributed.FlatAllReduce` and steps. It
reports a hash of every replica's weights after every step, and how far rank 0's weights are
from those of one process stepping on each whole batch.

Why the two should agree, and how far:

- With equal shards the mean of the shards' mean losses is the whole batch's mean loss, so the
  averaged gradient is the whole batch's gradient, in exact arithmetic (unequal shards would
  weight samples unequally, which is why the batch must divide by the world size).
- Clipping and the optimizer run after the hook, on the averaged gradient, as in one process.
- In floating point the sums run in another order (each shard, then across ranks), so the
  gradients differ in the last bits; Adam divides by the gradient's running magnitude, which
  keeps those differences relative. :data:`REFERENCE_ATOL` is the bound checked on weights.
- What is not a mean over samples breaks the equality: PPO's advantage normalisation uses each
  shard's own mean and deviation, so the reference is refused when ``norm_adv`` is on (replicas
  still agree with each other, which ``reference=False`` checks).

Synthetic data is enough: the question is arithmetic, not learning.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from rlkit.distributed.launcher import RankContext, launch

__all__ = ["REFERENCE_ATOL", "data_parallel_check", "env_shape", "synthetic_batches"]

REFERENCE_ATOL = 1e-5
"""Largest |w_parallel - w_single| accepted on any weight after any step (see module doc).

Measured on CPU (2 gloo processes, batch 64, seeds 0-2): at most 1.7e-7 after 20 steps of
``cartpole`` and ``cartpole_ppo`` (``norm_adv`` off), and after 5 steps of
``vizdoom_simpler_basic`` and ``vizdoom_basic_ppo``: float32 rounding of weights near 1. Each
step moves a weight by up to the learning rate (1e-3 here, Adam's steps being about lr), and
ranks stepping on their own shards without averaging end 2e-3 to 6e-3 away after 1 to 3 steps,
so 1e-5 (1% of one step, 60 times the largest difference measured) tells the two apart."""


def synthetic_batches(
    kind: str, obs_shape, obs_dtype: str, n_actions: int, batch: int, steps: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """``steps`` global batches of random data for a ``"dqn"`` or ``"ppo"`` learner.

    Every rank calls this with the same arguments and gets the same arrays, so no data is
    sent between processes.
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(obs_dtype)
    out = []
    for _ in range(steps):
        shape = (batch, *obs_shape)
        if dtype == np.uint8:
            obs = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            obs = rng.standard_normal(shape).astype(dtype)
        arrays = {"observations": obs, "actions": rng.integers(n_actions, size=batch)}
        f32 = np.float32
        if kind == "dqn":
            next_obs = (
                rng.integers(0, 256, size=shape, dtype=np.uint8)
                if dtype == np.uint8
                else rng.standard_normal(shape).astype(dtype)
            )
            arrays |= {
                "rewards": rng.standard_normal(batch).astype(f32),
                "next_observations": next_obs,
                "terminated": (rng.random(batch) < 0.1).astype(f32),
                "weights": np.ones(batch, dtype=f32),
            }
        else:
            arrays |= {
                "old_values": rng.standard_normal(batch).astype(f32),
                # near a uniform policy's, so the probability ratios start near 1
                "old_log_probs": (
                    np.log(1.0 / n_actions) + 0.1 * rng.standard_normal(batch)
                ).astype(f32),
                "advantages": rng.standard_normal(batch).astype(f32),
                "returns": rng.standard_normal(batch).astype(f32),
            }
        out.append(arrays)
    return out


def _to_batch(kind: str, arrays: dict[str, np.ndarray], lo: int, hi: int, device):
    """Rows ``lo:hi`` of a global batch, as the learner's batch type on ``device``."""
    import torch

    from rlkit.buffers import ReplayBatch, RolloutBatch

    t = {k: torch.from_numpy(np.ascontiguousarray(v[lo:hi])).to(device) for k, v in arrays.items()}
    if kind == "dqn":
        return ReplayBatch(indices=np.arange(lo, hi), **t)
    return RolloutBatch(**t)


def _build_learner(config, kind: str, obs_shape, n_actions: int, device, seed: int, hook):
    import torch

    torch.manual_seed(seed)  # the same initial weights in every process
    if kind == "dqn":
        from rlkit.agents.dqn import DQNLearner

        # Compiling costs seconds per process and changes nothing this check looks at.
        learner = DQNLearner(config, obs_shape, n_actions, device, hook, compile_update=False)
        return learner, [learner.q, learner.target]
    from rlkit.agents.ppo_learner import PPOLearner

    learner = PPOLearner(config, obs_shape, n_actions, device, hook)
    return learner, [learner.model]


def _weights(modules) -> np.ndarray:
    """Every weight of the modules (parameters and buffers), as one float64 vector."""
    parts = [
        t.detach().cpu().double().reshape(-1) for m in modules for t in m.state_dict().values()
    ]
    import torch

    return torch.cat(parts).numpy()


def _digest(modules) -> str:
    h = hashlib.sha256()
    for m in modules:
        for t in m.state_dict().values():
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _run(config, kind, obs_shape, n_actions, device, seed, batches, rank, world_size, hook):
    """Step a learner on shard ``rank`` of each batch; return per-step digests and weights."""
    learner, modules = _build_learner(config, kind, obs_shape, n_actions, device, seed, hook)
    size = len(batches[0]["actions"]) // world_size
    lo, hi = rank * size, (rank + 1) * size
    digests, weights = [_digest(modules)], [_weights(modules)]
    for arrays in batches:
        learner.compute_gradients(_to_batch(kind, arrays, lo, hi, device))
        learner.apply_gradients()
        digests.append(_digest(modules))
        weights.append(_weights(modules))
    return digests, weights


def _check_rank(ctx: RankContext, config, kind, obs_shape, n_actions, seed, batches, average):
    """One rank of :func:`data_parallel_check` (runs in a launched process).

    ``average=False`` (with one process) is the reference: the whole batch, no hook.
    """
    from rlkit.distributed.allreduce import FlatAllReduce

    hook = FlatAllReduce() if average else None
    rank, world = ctx.rank, ctx.world_size
    args = (config, kind, obs_shape, n_actions, ctx.device, seed, batches, rank, world, hook)
    digests, weights = _run(*args)
    # Rank 0's weights are the ones compared with the single process; the others send hashes.
    return {
        "digests": digests,
        "calls": 0 if hook is None else hook.calls,
        "weights": weights if rank == 0 else None,
    }


def data_parallel_check(
    preset: str = "cartpole",
    world_size: int = 2,
    steps: int = 3,
    batch: int = 64,
    seed: int = 0,
    *,
    reference: bool = True,
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Train a preset's learner data-parallel on synthetic batches and compare the replicas.

    :param preset: a DQN or PPO preset name (:func:`rlkit.presets.preset`).
    :param world_size: number of processes.
    :param steps: gradient steps.
    :param batch: global batch size; must divide by ``world_size`` (equal shards).
    :param seed: seeds the weights (the same in every process) and the data.
    :param reference: also step one process on each whole batch and compare with rank 0.
    :param overrides: config fields to change, e.g. ``{"norm_adv": False}``.
    :param device: ``"cpu"`` (gloo) or ``"cuda"`` (NCCL).
    :param timeout: seconds for the launch (see :func:`rlkit.distributed.launch`).
    :return: a JSON-able dict: ``digests`` (one list per rank of sha256 hashes of the weights,
        before the first step and after each), ``identical`` (every rank's hash equal at every
        step), ``first_mismatch`` (the first step where they differ, or ``None``),
        ``allreduce_calls`` (per rank: one per step), and ``reference`` (``None``, or
        ``max_abs_diff`` per step, ``max_abs_diff``, ``tolerance`` and ``within_tolerance``).
    """
    from rlkit.config import DQNConfig, PPOConfig
    from rlkit.presets import preset as make_preset

    for name, value in (("world_size", world_size), ("steps", steps), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
    if batch % world_size:
        raise ValueError(
            f"batch {batch} must divide by world_size {world_size}: the mean of the shards' "
            "mean losses is the whole batch's mean only when the shards are equal"
        )
    config = make_preset(preset, **(overrides or {}))
    if isinstance(config, DQNConfig):
        kind = "dqn"
    elif isinstance(config, PPOConfig):
        kind = "ppo"
    else:
        raise ValueError(f"preset {preset!r} is neither DQN nor PPO: {type(config).__name__}")
    if kind == "ppo" and reference and config.norm_adv:
        raise ValueError(
            "with norm_adv each shard normalises its advantages by its own mean and deviation, "
            "so no single-process step equals the parallel one; pass overrides="
            "{'norm_adv': False} to compare with one process, or reference=False"
        )
    obs_shape, obs_dtype, n_actions = env_shape(config)
    batches = synthetic_batches(kind, obs_shape, obs_dtype, n_actions, batch, steps, seed)
    results = launch(
        _check_rank,
        world_size,
        args=(config, kind, obs_shape, n_actions, seed, batches, True),
        device=device,
        timeout=timeout,
    )
    digests = [r["digests"] for r in results]
    mismatch = next((i for i in range(steps + 1) if len({d[i] for d in digests}) > 1), None)
    report: dict[str, Any] = {
        "preset": preset,
        "algorithm": kind,
        "world_size": world_size,
        "steps": steps,
        "batch": batch,
        "shard": batch // world_size,
        "seed": seed,
        "digests": digests,
        "identical": mismatch is None,
        "first_mismatch": mismatch,
        "allreduce_calls": [r["calls"] for r in results],
        "reference": None,
    }
    if reference:
        # In a process like the ranks' (one torch thread): the initial weights then agree to
        # the bit (orthogonal init's QR can differ in the last bits with the thread count).
        (single,) = launch(
            _check_rank,
            1,
            args=(config, kind, obs_shape, n_actions, seed, batches, False),
            device=device,
            timeout=timeout,
        )
        pairs = zip(results[0]["weights"], single["weights"], strict=True)
        diffs = [float(np.max(np.abs(a - b))) for a, b in pairs]
        report["reference"] = {
            "max_abs_diff_per_step": diffs,
            "max_abs_diff": max(diffs),
            "tolerance": REFERENCE_ATOL,
            "within_tolerance": max(diffs) <= REFERENCE_ATOL,
        }
    return report


def env_shape(config) -> tuple[tuple[int, ...], str, int]:
    """(observation shape, observation dtype, number of actions) of the config's env."""
    from rlkit.envs import env_spec, make_env

    env = make_env(config.env_id, **dict(config.env_kwargs))
    try:
        spec = env_spec(env, config.env_id, config.env_kwargs)
    finally:
        env.close()
    return spec.observation_shape, spec.observation_dtype, len(spec.action_names)
