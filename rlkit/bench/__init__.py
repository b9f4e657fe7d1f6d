"""Benchmarks behind ``python -m rlkit bench …``: one harness (:mod:`.harness`), one JSON schema,
and one module per benchmark (:mod:`.env`, :mod:`.dqn`, :mod:`.learner`, :mod:`.ipc`)."""
