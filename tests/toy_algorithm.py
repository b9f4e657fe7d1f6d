"""A third algorithm and a fourth way of stepping envs, written outside rlkit: the proof that a
new algorithm is a config, an actor and an agent, and a new backend is one collector class.

The env is a two-armed bandit in episodes of ``EPISODE`` steps: arm 1 pays 1, arm 0 pays 0.
The algorithm is REINFORCE on a softmax over two preferences (no observation to look at).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from rlkit.algorithms import Algorithm
from rlkit.collectors import ColumnWriter, EpisodeCounter
from rlkit.config import RunConfig
from rlkit.envs import EnvSpec

EPISODE = 5


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    algo: ClassVar[str] = "toy_reinforce"
    module: ClassVar[str] = "toy_algorithm"
    lr: float = 0.5


class Preferences(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(2))

    def forward(self, obs):
        return self.logits.expand(len(obs), 2)


class ToyActor:
    def __init__(self, model, rng):
        self.model, self.rng = model, rng

    def choose(self, obs):
        with torch.no_grad():
            p = torch.softmax(self.model(torch.as_tensor(obs)), dim=1).numpy()
        return (self.rng.random(len(obs)) < p[:, 1]).astype(np.int64), {}

    def final(self, obs):
        return {}

    def last(self, obs):
        return {}

    def settings(self):
        return {}

    def apply(self, settings):
        pass


class ToyAgent:
    phases = ("learner",)

    def __init__(self, config, spec, device, rng, plan=None):
        self.config, self.env_spec = config, spec
        self.model = Preferences()
        self.actor = ToyActor(self.model, rng)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config.lr)
        self.updates, self._last = 0, {}

    def start(self):
        pass

    def iterate(self, run):
        cols = run.collect(self.actor, EPISODE)
        run.timer.start()
        logp = torch.log_softmax(self.model(torch.zeros(1, 1)), dim=1)[0]
        actions = torch.as_tensor(cols.actions.reshape(-1))
        rewards = torch.as_tensor(cols.rewards.reshape(-1), dtype=torch.float32)
        loss = -(logp[actions] * (rewards - rewards.mean())).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.updates += 1
        self._last = {"loss": loss.item()}
        run.timer.stop("learner")

    def log_metrics(self):
        out, self._last = self._last, {}
        return out

    def state_dict(self, include_buffer):
        return {}

    def load_state_dict(self, state):
        pass


ALGORITHM = Algorithm(agent=ToyAgent, make_actor=lambda c, spec, rng: ToyActor(Preferences(), rng))


class BanditCollector:
    """``num_envs`` bandits stepped in a plain loop: a backend rlkit has never seen."""

    phases = ("env", "act")

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.spec = EnvSpec("toy:bandit", (1,), "float32", ("ARM0", "ARM1"), {})
        self.counter = EpisodeCounter(num_envs)
        self.obs = None
        self.closed = False
        self._t = np.zeros(num_envs, dtype=np.int64)

    def reset(self, seed):
        self.obs = np.zeros((self.num_envs, 1), dtype=np.float32)
        self._t[:] = 0
        self.counter.reset()

    def collect(self, actor, steps=None):
        steps = 1 if steps is None else steps
        ids = np.arange(self.num_envs)
        writer = ColumnWriter(steps, self.obs, self.counter)
        for t in range(steps):
            actions, records = actor.choose(self.obs)
            self._t += 1
            ended = self._t == EPISODE
            self._t[ended] = 0
            out = (self.obs, actions.astype(np.float64), ended, np.zeros_like(ended), {})
            writer.write(t, ids, actions, records, out)
        return writer.columns(ids, actor.last(self.obs), {"env": 0.0, "act": 0.0})

    def close(self):
        self.closed = True
