"""Benchmarks behind ``python -m rlkit bench …``: one harness (:mod:`.harness`), one JSON schema,
and one module per benchmark (:mod:`.env`, :mod:`.score` for DQN's and PPO's time to score,
:mod:`.learner`, :mod:`.ipc`)."""
