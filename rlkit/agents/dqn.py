"""Deep Q-learning: double DQN targets, dueling head, uniform or prioritized replay.

The loop follows Mnih et al. (2015) with the switches of :class:`rlkit.config.DQNConfig`.
It is written for speed on a CPU: observations stay uint8 until the network, the replay buffer
is preallocated, exploration is vectorised over envs, and the time spent stepping envs, choosing
actions and learning is measured separately so a notebook can show where it goes.

``train_dqn(config, device="auto", callbacks=[...]) -> TrainResult``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlkit.config import DQNConfig
from rlkit.records import History, TrainResult
from rlkit.training import Callback


def build_q_network(config: DQNConfig, obs_shape: Sequence[int], n_actions: int):
    """The Q-network a config asks for (image trunk for (C, H, W), MLP for (D,))."""
    from rlkit.models import build_q_network as build

    if len(obs_shape) == 3:
        return build(
            obs_shape, n_actions, dueling=config.dueling, preset=config.net, hidden=config.hidden
        )
    width = config.hidden or 128
    return build(obs_shape, n_actions, dueling=config.dueling, hidden=(width, width))


def epsilon_at(config: DQNConfig, step: int) -> float:
    """Linear decay from ``eps_start`` to ``eps_end`` over ``eps_decay_fraction`` of training."""
    span = max(1.0, config.eps_decay_fraction * config.total_steps)
    frac = min(1.0, step / span)
    return config.eps_start + frac * (config.eps_end - config.eps_start)


def make_optimizer(config: DQNConfig, params) -> torch.optim.Optimizer:
    # The fused kernels update all parameters in one call: ~0.5 ms less per update on a CPU
    # for a small net, where per-tensor overhead dominates.
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, fused=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, fused=True)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9)


class DQNLearner:
    """The learning half of DQN: networks, optimizer and the TD update.

    Kept apart from the acting loop so remote and distributed trainers can reuse it.

    :param config: the run's config.
    :param obs_shape: shape of one observation.
    :param n_actions: number of discrete actions.
    :param device: where the networks live.
    """

    def __init__(self, config: DQNConfig, obs_shape: Sequence[int], n_actions: int, device):
        self.config = config
        self.device = torch.device(device)
        self.q = build_q_network(config, obs_shape, n_actions).to(self.device)
        self.target = build_q_network(config, obs_shape, n_actions).to(self.device)
        self.target.load_state_dict(self.q.state_dict())
        self.target.requires_grad_(False)
        self.optimizer = make_optimizer(config, self.q.parameters())
        self.updates = 0

    def update(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One gradient step on a replay batch; returns (loss, |TD error|) as detached tensors."""
        c = self.config
        q_taken = self.q(batch.observations).gather(1, batch.actions.view(-1, 1)).squeeze(1)
        with torch.no_grad():
            next_target = self.target(batch.next_observations)
            if c.double_dqn:
                # The online net picks the action, the target net scores it (van Hasselt 2016).
                best = self.q(batch.next_observations).argmax(dim=1, keepdim=True)
                next_q = next_target.gather(1, best).squeeze(1)
            else:
                next_q = next_target.max(dim=1).values
            target = batch.rewards + c.gamma * (1.0 - batch.terminated) * next_q
        td = q_taken - target
        if c.loss == "huber":
            per_item = F.smooth_l1_loss(q_taken, target, reduction="none")
        else:
            per_item = td.pow(2)
        loss = (batch.weights * per_item).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.q.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        if self.updates % c.target_update_interval == 0:
            self.sync_target()
        return loss.detach(), td.detach().abs()

    @torch.no_grad()
    def sync_target(self) -> None:
        if self.config.tau >= 1.0:
            self.target.load_state_dict(self.q.state_dict())
        else:
            # One fused call over all tensors: Polyak updates run after every gradient step.
            torch._foreach_lerp_(
                list(self.target.parameters()), list(self.q.parameters()), self.config.tau
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])


def _final_next_obs(next_obs: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
    """The true next observation of each env: the final obs where an episode just ended."""
    mask = infos.get("_final_obs")
    if mask is None or not np.any(mask):
        return next_obs
    out = next_obs.copy()
    for i in np.flatnonzero(mask):
        out[i] = infos["final_obs"][i]
    return out


def train_dqn(
    config: DQNConfig,
    device: str | torch.device = "auto",
    callbacks: Sequence[Callback] = (),
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    save_buffer: bool = False,
) -> TrainResult:
    """Train a DQN agent.

    :param config: what to train (see :func:`rlkit.config.preset`).
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (see
        :func:`rlkit.devices.select_device`).
    :param callbacks: objects whose hooks are called during training (dashboard, early stop).
    :param run_dir: if given, checkpoints (``checkpoint.pt``), ``history.json`` and
        ``episodes.csv`` are written there (atomically).
    :param resume_from: a checkpoint to continue from (network, target, optimizer, counters,
        exploration and sampling RNG; the replay buffer too if it was saved). Envs start fresh
        episodes: the episode that was running when the checkpoint was written is not resumed.
    :param save_buffer: include the replay buffer in checkpoints (large, but resumes exactly).
    :return: a :class:`TrainResult`.
    """
    from rlkit.devices import select_device
    from rlkit.envs import env_spec
    from rlkit.envs.vector import make_vector_env
    from rlkit.evaluation import evaluate, greedy_policy

    if not isinstance(config, DQNConfig):
        raise TypeError(f"config must be a DQNConfig (see rlkit.config.preset), got {config!r}")
    c = config
    dev, _ = select_device(device)
    threads_before = torch.get_num_threads()
    torch.manual_seed(c.seed)
    rng = np.random.default_rng(c.seed)

    envs = make_vector_env(c.env_id, c.num_envs, backend=c.vector_backend, **c.env_kwargs)
    eval_env = None
    try:
        if c.torch_threads is not None:
            torch.set_num_threads(c.torch_threads)
        spec = env_spec(envs, c.env_id, c.env_kwargs)
        n_actions = len(spec.action_names)
        learner = DQNLearner(c, spec.observation_shape, n_actions, dev)
        buffer = _make_buffer(c, spec, dev)
        history = History()
        start_step = 0
        if resume_from is not None:
            start_step, rng = _resume(resume_from, learner, buffer, history, spec)
        obs, _ = envs.reset(seed=c.seed + start_step)
        q = learner.q
        act_greedy = greedy_policy(q, dev)

        ep_return = np.zeros(c.num_envs)
        ep_len = np.zeros(c.num_envs, dtype=np.int64)
        loss_sum = torch.zeros((), device=dev)
        loss_count = 0
        step = start_step
        next_eval = _next_multiple(step, c.eval_interval)
        next_log = _next_multiple(step, c.log_interval)
        next_ckpt = _next_multiple(step, c.checkpoint_interval)
        stopped = False
        per_beta = c.per_beta_start
        train_clock0 = time.perf_counter() - history.train_seconds

        def info(eps: float) -> dict[str, Any]:
            return {
                "env_steps": step,
                "total_steps": c.total_steps,
                "updates": learner.updates,
                "episodes": history.episodes,
                "train_seconds": history.train_seconds,
                "epsilon": eps,
                "history": history,
                "obs": obs,
                "model": q,
            }

        for cb in callbacks:
            cb.on_start(info(epsilon_at(c, step)))
        eps = epsilon_at(c, step)
        while step < c.total_steps and not stopped:
            # -- act: epsilon-greedy over all envs at once ---------------------------------
            t0 = time.perf_counter()
            eps = epsilon_at(c, step)
            explore = rng.random(c.num_envs) < eps
            actions = rng.integers(n_actions, size=c.num_envs)
            if not explore.all():
                with torch.inference_mode():
                    x = torch.from_numpy(obs).to(dev)
                    greedy = q(x).argmax(dim=1).cpu().numpy()
                actions = np.where(explore, actions, greedy)
            t1 = time.perf_counter()
            next_obs, rewards, terminated, truncated, infos = envs.step(actions)
            t2 = time.perf_counter()
            history.act_seconds += t1 - t0
            history.env_seconds += t2 - t1

            buffer.add(
                obs,
                actions,
                rewards * c.reward_scale,
                _final_next_obs(next_obs, infos),
                terminated,
                truncated,
            )
            obs = next_obs
            step += c.num_envs
            ep_return += rewards
            ep_len += 1
            done = np.logical_or(terminated, truncated)
            if done.any():
                now = time.perf_counter() - train_clock0
                for i in np.flatnonzero(done):
                    history.episode_steps.append(step)
                    history.episode_returns.append(float(ep_return[i]))
                    history.episode_lengths.append(int(ep_len[i]))
                    history.episode_times.append(now)
                    history.episodes += 1
                ep_return[done] = 0.0
                ep_len[done] = 0

            # -- learn -----------------------------------------------------------------
            # Updates owed for the train_freq boundaries crossed by this vector step.
            rounds = step // c.train_freq - (step - c.num_envs) // c.train_freq
            if rounds and step >= c.learning_starts and len(buffer) >= c.batch_size:
                t3 = time.perf_counter()
                for _ in range(rounds * c.gradient_steps):
                    if c.prioritized:
                        per_beta = c.per_beta_start + (1.0 - c.per_beta_start) * min(
                            1.0, step / c.total_steps
                        )
                        batch = buffer.sample(c.batch_size, beta=per_beta)
                    else:
                        batch = buffer.sample(c.batch_size)
                    loss, td_abs = learner.update(batch)
                    if c.prioritized:
                        buffer.update_priorities(batch.indices, td_abs.cpu().numpy())
                    loss_sum += loss
                    loss_count += 1
                history.learner_seconds += time.perf_counter() - t3

            history.env_steps = step
            history.updates = learner.updates
            history.train_seconds = time.perf_counter() - train_clock0

            # -- report, evaluate, checkpoint ---------------------------------------------
            if step >= next_log:
                next_log = _next_multiple(step, c.log_interval)
                if loss_count:
                    history.loss_steps.append(step)
                    history.losses.append(float(loss_sum) / loss_count)
                    loss_sum.zero_()
                    loss_count = 0
                for cb in callbacks:
                    cb.on_log(info(eps))
            if c.eval_interval and step >= next_eval:
                next_eval = _next_multiple(step, c.eval_interval)
                te = time.perf_counter()
                if eval_env is None:
                    from rlkit.envs import make_env

                    eval_env = make_env(c.env_id, **c.env_kwargs)
                # Fresh seeds every evaluation, disjoint from training seeds.
                res = evaluate(act_greedy, eval_env, c.eval_episodes, seed=10**6 + step)
                history.eval_steps.append(step)
                history.eval_times.append(history.train_seconds)
                history.eval_means.append(res.mean)
                history.eval_stds.append(res.std)
                spent = time.perf_counter() - te
                history.eval_seconds += spent
                train_clock0 += spent  # the training clock does not run during evaluation
                for cb in callbacks:
                    if cb.on_eval(info(eps), res.scores):
                        stopped = True
            if run_dir is not None and c.checkpoint_interval and step >= next_ckpt:
                next_ckpt = _next_multiple(step, c.checkpoint_interval)
                ts = time.perf_counter()
                _save(run_dir, learner, buffer, save_buffer, history, spec, c, step, rng)
                train_clock0 += time.perf_counter() - ts  # saving is not training

        history.train_seconds = time.perf_counter() - train_clock0
        if loss_count:
            history.loss_steps.append(step)
            history.losses.append(float(loss_sum) / loss_count)
        ckpt = None
        if run_dir is not None:
            ckpt = _save(run_dir, learner, buffer, save_buffer, history, spec, c, step, rng)
        for cb in callbacks:
            cb.on_end(info(eps))
        return TrainResult(
            model=q,
            config=c,
            env_spec=spec,
            history=history,
            device=str(dev),
            algo="dqn",
            checkpoint_path=None if ckpt is None else str(ckpt),
            stopped_early=stopped,
        )
    finally:
        torch.set_num_threads(threads_before)  # the caller's process keeps its own setting
        envs.close()
        if eval_env is not None:
            eval_env.close()


def _next_multiple(step: int, interval: int) -> int:
    if not interval:
        return math.inf
    return (step // interval + 1) * interval


def _make_buffer(c: DQNConfig, spec, device):
    from rlkit.buffers import PrioritizedReplayBuffer, ReplayBuffer

    common = dict(
        capacity=c.buffer_size,
        obs_shape=spec.observation_shape,
        n_envs=c.num_envs,
        obs_dtype=np.dtype(spec.observation_dtype),
        device=device,
        seed=c.seed,
    )
    if c.prioritized:
        return PrioritizedReplayBuffer(
            alpha=c.per_alpha, beta=c.per_beta_start, eps=c.per_eps, **common
        )
    return ReplayBuffer(**common)


def _save(run_dir, learner, buffer, save_buffer, history, spec, config, step, rng) -> Path:
    from rlkit.atomic import write_bytes, write_json
    from rlkit.checkpoints import save_checkpoint

    run_dir = Path(run_dir)
    extra = {
        "learner": learner.state_dict(),
        "rng": {
            "numpy": rng.bit_generator.state,
            "torch": torch.get_rng_state(),
            "replay": buffer._rng.bit_generator.state,  # the sampler's own stream
        },
        "history": history.to_dict(),
    }
    if save_buffer:
        extra["buffer"] = buffer.state_dict()
    path = save_checkpoint(
        run_dir / "checkpoint.pt",
        model=learner.q,
        metadata={
            "algo": "dqn",
            "config": config.to_dict(),
            "env_spec": spec.to_dict(),
            "progress": {
                "env_steps": step,
                "updates": learner.updates,
                "episodes": history.episodes,
                "epsilon": epsilon_at(config, step),
                "train_seconds": history.train_seconds,
            },
        },
        extra_state=extra,
    )
    write_json(run_dir / "history.json", history.to_dict())
    write_bytes(run_dir / "episodes.csv", history.episodes_csv())
    return Path(path)


def _resume(path, learner: DQNLearner, buffer, history: History, spec):
    from rlkit.checkpoints import check_compatible, load_checkpoint
    from rlkit.envs import EnvSpec

    ckpt = load_checkpoint(path, map_location="cpu")
    check_compatible(ckpt, model=learner.q, env_spec=spec)
    saved_spec = EnvSpec.from_dict(ckpt.metadata["env_spec"])
    if saved_spec.env_id != spec.env_id:
        from rlkit.checkpoints import CheckpointError

        raise CheckpointError(
            f"checkpoint {path} was trained on {saved_spec.env_id}, not {spec.env_id}"
        )
    learner.q.load_state_dict(ckpt.state_dict)
    extra = ckpt.extra_state
    learner.load_state_dict(extra["learner"])
    rng = np.random.default_rng()
    rng.bit_generator.state = extra["rng"]["numpy"]
    torch.set_rng_state(extra["rng"]["torch"].cpu())
    restored = History.from_dict(extra["history"])
    for name, value in vars(restored).items():
        setattr(history, name, value)
    if "buffer" in extra:
        buffer.load_state_dict(extra["buffer"])
    if "replay" in extra["rng"]:
        buffer._rng.bit_generator.state = extra["rng"]["replay"]
    return int(ckpt.metadata["progress"]["env_steps"]), rng
