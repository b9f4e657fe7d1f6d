"""Learning algorithms: DQN (:mod:`.dqn`) and PPO (:mod:`.ppo`), each an actor, a learner and
an agent that :class:`rlkit.training.Trainer` runs (see :mod:`rlkit.algorithms`)."""
