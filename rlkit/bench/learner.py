"""``python -m rlkit bench learner``: updates per second of the DQN learner alone, per batch size.

No env runs and no actor acts: a replay buffer of the preset's size is filled with synthetic
observations of the preset's shape and dtype (the shape comes from the env's spec; the env is
opened and closed, never stepped), and each timed unit is one full update as training makes it:
sample a batch, forward, backward, clip, optimizer step and the target sync when it is due.
The replay buffer, pinned copies, cuDNN and TF32 flags and the compiled loss follow the run's
:class:`rlkit.device_plan.DevicePlan`, as in training. Batch sizes are timed in interleaved
rounds (:func:`rlkit.bench.harness.measure_interleaved`) after an untimed warm-up; on a GPU
the clock is read only after synchronising, so queued kernels count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from rlkit.bench.harness import check_duration, load_average, measure_interleaved, result_header

DEFAULT_BATCHES = (64, 256, 1024)


class LearnerUpdates:
    """A :class:`rlkit.bench.harness.Workload`: full DQN updates at one batch size.

    :param learner: a :class:`rlkit.agents.dqn.DQNLearner`.
    :param buffer: a filled replay buffer on the learner's device.
    :param batch: transitions per update.
    """

    def __init__(self, learner: Any, buffer: Any, batch: int):
        self.learner, self.buffer, self.batch = learner, buffer, batch
        device = learner.device
        if device.type == "cuda":
            self.sync: Callable[[], None] = lambda: torch.cuda.synchronize(device)
        elif device.type == "mps":
            self.sync = torch.mps.synchronize
        else:
            self.sync = lambda: None
        self.loss: torch.Tensor | None = None
        self.meta = {"batch": batch}

    def run(self, seconds: float) -> tuple[int, float]:
        """Update for about ``seconds`` (at least once); the clock is read in growing chunks."""
        done, chunk = 0, 1
        self.sync()
        t0 = time.perf_counter()
        while True:
            for _ in range(chunk):
                self.loss, _ = self.learner.update(self.buffer.sample(self.batch))
            done += chunk
            self.sync()
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                return done, elapsed
            if 2 * chunk * elapsed / done < 0.05 * seconds:  # a chunk stays under 5 % of it
                chunk *= 2

    def close(self) -> None:
        """Nothing to release: the learner is kept for the next round."""


def env_spec_of(config: Any) -> Any:
    """The :class:`rlkit.envs.EnvSpec` of a config's env, opened and closed without a step."""
    from rlkit.envs import env_spec, make_env

    env = make_env(config.env_id, **config.env_kwargs)
    try:
        return env_spec(env, config.env_id, config.env_kwargs)
    finally:
        env.close()


def fill_synthetic(buffer: Any, n_actions: int, seed: int = 0, end_prob: float = 0.02) -> None:
    """Fill every slot of an empty replay buffer with random transitions (through
    ``load_state_dict``, so a device buffer is filled in one copy per array).

    Observations are uniform bytes for an integer dtype, standard normal otherwise; about
    ``end_prob`` of the transitions end an episode and carry a final frame of their own.
    """
    rng = np.random.default_rng(seed)
    n_slots, n_envs, shape = buffer.slots_per_env + 1, buffer.n_envs, buffer.obs_shape

    def frames(n: int) -> np.ndarray:
        if np.issubdtype(buffer.obs_dtype, np.integer):
            return rng.integers(0, 256, (n, *shape), dtype=np.uint8).astype(buffer.obs_dtype)
        return rng.standard_normal((n, *shape)).astype(buffer.obs_dtype)

    ended = rng.random((n_slots, n_envs)) < end_prob
    ended[0] = False  # slot 0 is the write position of a full ring: it holds only a next obs
    keys = np.flatnonzero(ended).astype(np.int64)
    buffer.load_state_dict(
        {
            "capacity": buffer.capacity,
            "n_envs": n_envs,
            "obs_shape": np.array(shape, dtype=np.int64),
            "pos": 0,
            "stored": buffer.slots_per_env,
            "obs": frames(n_slots * n_envs).reshape(n_slots, n_envs, *shape),
            "actions": rng.integers(0, n_actions, (n_slots, n_envs), dtype=np.int64),
            "rewards": rng.standard_normal((n_slots, n_envs)).astype(np.float32),
            "terminated": ended.astype(np.float32),
            "episode_end": ended,
            "final_keys": keys,
            "final_obs": frames(len(keys)),
        }
    )


def learner_command(
    device: str,
    batches: Sequence[int],
    preset: str,
    seconds: float,
    repeats: int,
    threads: int | None,
    overrides: Mapping[str, Any],
) -> str:
    """The ``python -m rlkit bench learner`` command line that measures the same thing."""
    parts = [
        "python -m rlkit bench learner",
        f"--device {device}",
        "--batch " + ",".join(str(b) for b in batches),
        f"--preset {preset}",
        f"--seconds {seconds:g}",
        f"--repeats {repeats}",
    ]
    if threads is not None:
        parts.append(f"--threads {threads}")
    parts += [f"--set {k}={v}" for k, v in overrides.items()]
    return " ".join([*parts, "--json"])


def bench_learner(
    device: str = "cpu",
    batches: Sequence[int] = DEFAULT_BATCHES,
    preset: str = "vizdoom_basic",
    seconds: float = 6.0,
    repeats: int = 3,
    *,
    threads: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Median updates/s of the DQN learner alone, for each batch size.

    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``; one that is not
        here is a :class:`rlkit.devices.DeviceNotAvailableError`.
    :param batches: batch sizes to time (each at most the buffer's transitions).
    :param preset: a DQN preset of :mod:`rlkit.config`: network, optimizer, buffer size, shape.
    :param seconds: timed seconds per batch size, all rounds together.
    :param repeats: interleaved rounds; the median round is reported.
    :param threads: torch intra-op threads while timing (default: the preset's ``torch_threads``).
    :param overrides: config fields to change (``compile=True``, ``buffer_device="cpu"``...).
    :param seed: seeds the networks and the synthetic data.
    :param log: called with one progress line per round and batch size.
    :return: the JSON record: the harness header (``machine``…), ``device``,
        ``updates_per_s`` (batch as a string -> median), ``repeats_updates_per_s``,
        ``device_plan`` (its :meth:`~rlkit.device_plan.DevicePlan.describe` lines),
        ``torch_threads``, ``command``…
    """
    from rlkit.agents.dqn import DQNLearner, make_replay_buffer
    from rlkit.config import DQNConfig
    from rlkit.device_plan import apply, plan_for, restore
    from rlkit.devices import select_device, set_threads
    from rlkit.presets import preset as make_preset

    check_duration(seconds, repeats)
    batches = list(batches) if not isinstance(batches, str) else []
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batches):
        raise ValueError(f"batches must be a non-empty list of integers ≥ 1, got {batches!r}")
    batches = list(dict.fromkeys(batches))
    dev, report = select_device(device)
    extra = dict(overrides or {})
    config = make_preset(preset, **extra)
    if not isinstance(config, DQNConfig):
        raise ValueError(f"preset {preset!r} is not a DQN preset")
    if max(batches) > config.buffer_size:
        raise ValueError(
            f"batch {max(batches)} exceeds the preset's {config.buffer_size} replay transitions; "
            f"valid: batches up to buffer_size (or --set buffer_size=N)"
        )
    threads = config.torch_threads if threads is None else threads
    spec = env_spec_of(config)
    n_actions = len(spec.action_names)
    plan = plan_for(dev, config, spec)
    load_start = load_average()
    threads_before = torch.get_num_threads()
    flags_before: dict[str, Any] = {}
    try:
        if threads is not None:
            set_threads(threads)
        flags_before = apply(plan)
        buffer = make_replay_buffer(config, spec, dev, plan)
        fill_synthetic(buffer, n_actions, seed)
        work = {}
        with torch.random.fork_rng(devices=[]):  # the caller's torch stream is left alone
            torch.manual_seed(seed)
            for b in batches:
                learner = DQNLearner(
                    config,
                    spec.observation_shape,
                    n_actions,
                    dev,
                    compile_update=plan.compile_update,
                )
                work[str(b)] = LearnerUpdates(learner, buffer, b)
        factories = {k: (lambda w=w: w) for k, w in work.items()}
        measured = measure_interleaved(factories, seconds, repeats, log=log)
        torch_threads = torch.get_num_threads()
    finally:
        restore(flags_before)
        torch.set_num_threads(threads_before)
    rates = {k: m["rate"] for k, m in measured.items()}
    losses = {k: None if w.loss is None else float(w.loss) for k, w in work.items()}
    model = work[str(batches[0])].learner.q
    return result_header("learner") | {
        "device": str(dev),
        "device_report": report.to_dict(),
        "device_plan": plan.describe(),
        "preset": preset,
        "env_id": config.env_id,
        "model": {
            "net": config.net if len(spec.observation_shape) == 3 else "mlp",
            "class": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "observation_shape": list(spec.observation_shape),
            "observation_dtype": spec.observation_dtype,
            "n_actions": n_actions,
        },
        "learner": {
            "optimizer": config.optimizer,
            "double_dqn": config.double_dqn,
            "dueling": config.dueling,
            "loss": config.loss,
            "max_grad_norm": config.max_grad_norm,
            "target_update_interval": config.target_update_interval,
            "tau": config.tau,
            "compiled": plan.compile_update,
        },
        "buffer": {
            "class": type(buffer).__name__,
            "transitions": len(buffer),
            "nbytes": buffer.nbytes,
            "on_device": plan.buffer_on_device,
            "pinned": buffer.pin_memory,
        },
        "batches": batches,
        "updates_per_s": rates,
        "transitions_per_s": {k: None if r is None else r * int(k) for k, r in rates.items()},
        "repeats_updates_per_s": {k: m["rounds"] for k, m in measured.items()},
        "final_loss": losses,
        "loss_finite": all(v is not None and math.isfinite(v) for v in losses.values()),
        "torch_threads": torch_threads,
        "settings": {
            "seconds_per_batch": seconds,
            "repeats": repeats,
            "warmup_s_per_round": min(0.5, 0.1 * seconds / repeats),
            "seed": seed,
            "overrides": extra,
        },
        "command": learner_command(device, batches, preset, seconds, repeats, threads, extra),
        # Other work on the machine while it ran (on 2 cores a load of 2 leaves none idle).
        "load_average_1m": {"start": load_start, "end": load_average()},
    }


def format_learner_table(result: Mapping[str, Any]) -> str:
    """A human-readable table of a :func:`bench_learner` record."""
    mach, m, lr, buf = result["machine"], result["model"], result["learner"], result["buffer"]
    where = "on the device" if buf["on_device"] else "in host memory"
    lines = [
        f"bench learner: {result['preset']} DQN learner alone on {result['device']} "
        f"({mach.get('cpu_model')}, {result['torch_threads']} torch thread(s))",
        f"network: {m['net']} ({m['class']}, {m['parameters']:,} parameters), input "
        f"{m['observation_shape']} {m['observation_dtype']}, {m['n_actions']} actions; "
        f"{lr['optimizer']}, {'double' if lr['double_dqn'] else 'plain'} DQN, "
        f"{'compiled' if lr['compiled'] else 'eager'}",
        f"replay: {buf['class']}, {buf['transitions']:,} transitions "
        f"({buf['nbytes'] / 1e6:.1f} MB) {where}",
        "device plan:",
        *(f"  {line}" for line in result["device_plan"]),
        "",
        f"{'batch':>6}{'updates/s':>12}{'transitions/s':>16}  rounds (updates/s)",
    ]
    for key, rate in result["updates_per_s"].items():
        rounds = " / ".join(f"{r:,.0f}" for r in result["repeats_updates_per_s"][key])
        per_s = result["transitions_per_s"][key]
        lines.append(f"{key:>6}{_fmt(rate, ',.0f'):>12}{_fmt(per_s, ',.0f'):>16}  {rounds or '—'}")
    return "\n".join(lines)


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)
