"""EnvPool: free-running envs, received whichever are ready, by env id."""

from __future__ import annotations

import functools
import os
import signal

import numpy as np
import pytest
from conftest import processes_gone
from test_vector import CountingEnv

from rlkit.envs.vector.pool import EnvPool


def _pool(n=3, batch_size=None, envs_per_worker=1, **env_kwargs):
    fns = [functools.partial(CountingEnv, index=i, **env_kwargs) for i in range(n)]
    return EnvPool(fns, batch_size=batch_size, envs_per_worker=envs_per_worker)


@pytest.mark.parametrize("per_worker", [1, 2])
@pytest.mark.slow
def test_reset_then_steps_come_back_by_env_id_with_same_step_autoreset(per_worker):
    pool = _pool(3, length=2, info="floats", envs_per_worker=per_worker)
    assert len(pool.worker_pids) == (3 if per_worker == 1 else 2)
    try:
        pool.async_reset(seed=10)
        obs, rew, term, trunc, infos, ids = pool.recv()
        assert sorted(ids.tolist()) == [0, 1, 2]
        assert (obs[:, 0] == ids).all() and (obs[:, 2] == 0).all()  # index, step 0
        assert not rew.any() and not term.any() and not trunc.any()
        pool.send(np.ones(3, dtype=np.int64), ids)
        obs, rew, term, trunc, infos, ids = pool.recv()
        assert (obs[:, 0] == ids).all() and (obs[:, 2] == 1).all()
        assert np.allclose(rew, 1.5) and (infos["health"] == 99.0).all()
        pool.send(np.zeros(3, dtype=np.int64), ids)
        obs, rew, term, trunc, infos, ids = pool.recv()  # step 2 ends episode 0: terminated
        assert term.all() and not trunc.any()
        assert (obs[:, 1] == 1).all() and (obs[:, 2] == 0).all()  # the next episode's start
        assert infos["_final_obs"].all()
        assert all(f[0] == i and f[2] == 2 for f, i in zip(infos["final_obs"], ids, strict=True))
    finally:
        pool.close()


@pytest.mark.slow
def test_recv_returns_the_ready_envs_first():
    # Env 0 takes 3 s a step: far longer than the others take on any machine, loaded or not,
    # so the order is the claim, not a clock.
    fns = [functools.partial(CountingEnv, index=0, sleep=3.0)]
    fns += [functools.partial(CountingEnv, index=i) for i in (1, 2)]
    pool = EnvPool(fns, batch_size=1)
    try:
        pool.async_reset()
        for _ in range(3):
            pool.recv()
        pool.send(np.zeros(3, dtype=np.int64), [0, 1, 2])
        first = [int(pool.recv()[5][0]) for _ in range(2)]
        assert sorted(first) == [1, 2]  # env 0 still steps
        assert int(pool.recv()[5][0]) == 0
    finally:
        pool.close()


@pytest.mark.slow
def test_misuse_is_refused_in_one_sentence():
    pool = _pool(2, batch_size=2)
    try:
        with pytest.raises(RuntimeError, match="async_reset"):
            pool.send([0, 0], [0, 1])
        pool.async_reset()
        with pytest.raises(RuntimeError, match="already stepping"):
            pool.send([0], [1])
        pool.recv()
        with pytest.raises(ValueError, match="out of range"):
            pool.send([0], [5])
        with pytest.raises(ValueError, match="shape"):
            pool.send([0, 0, 0], [0, 1])
        pool.send([0], [0])
        with pytest.raises(RuntimeError, match="needs 2 envs stepping"):
            pool.recv()
        # Finished but not received is still in flight: a reset now would mix its answer in.
        with pytest.raises(RuntimeError, match=r"async_reset\(\) while envs are stepping"):
            pool.async_reset()
        pool.recv(count=1)
        pool.async_reset()  # every env received: a new start is fine
        pool.recv()
    finally:
        pool.close()
    with pytest.raises(RuntimeError, match="EnvPool is closed"):
        pool.send([0], [0])
    with pytest.raises(ValueError, match="batch_size"):
        _pool(2, batch_size=3)


def test_the_pool_offers_send_and_recv_not_a_lock_step_api():
    # Lock-step methods inherited from a vector env would wait on one command number for every
    # env while pool workers answer one env at a time: the pool has none to misuse.
    from rlkit.envs.vector.pool import EnvPool

    for name in ("reset", "step", "step_async", "step_wait"):
        assert not hasattr(EnvPool, name), name
    assert {"async_reset", "send", "recv", "call", "get_attr", "set_attr"} <= set(dir(EnvPool))


@pytest.mark.parametrize("per_worker", [1, 2])
def test_a_worker_that_dies_is_reported_within_seconds_and_nothing_is_left(per_worker):
    pool = _pool(2 * per_worker, batch_size=1, envs_per_worker=per_worker)
    pids = pool.worker_pids
    try:
        pool.async_reset()
        for _ in range(2 * per_worker):
            pool.recv()
        os.kill(pids[1], signal.SIGKILL)  # the worker of the last env(s)
        pool.send([0] * 2 * per_worker, range(2 * per_worker))
        for _ in range(per_worker):
            pool.recv()  # the first worker's envs still answer
        # Named as dead, not a time-out: the death is noticed, not waited out.
        with pytest.raises(RuntimeError, match=rf"worker {per_worker} .* died"):
            pool.recv(timeout_s=60)
    finally:
        pool.close()
    assert processes_gone(pids)


def test_a_failing_env_names_itself():
    pool = _pool(2, batch_size=2, fail_at=1)
    try:
        pool.async_reset()
        pool.recv()
        pool.send([0, 0], [0, 1])
        with pytest.raises(RuntimeError, match="boom at step 1"):
            pool.recv()
    finally:
        pool.close()


def test_recv_can_take_fewer_than_a_batch_and_checks_count():
    pool = _pool(3, batch_size=2)
    try:
        pool.async_reset()
        assert sorted(pool.recv(count=3)[5].tolist()) == [0, 1, 2]
        pool.send([0], [1])
        assert pool.in_flight == 1
        obs, *_, ids = pool.recv(count=1)  # one in flight: a batch of 2 could never come
        assert ids.tolist() == [1] and obs[0, 2] == 1 and pool.in_flight == 0
        for bad in (0, 4, 1.0, True):
            with pytest.raises(ValueError, match=r"count must be an integer in \[1, num_envs=3\]"):
                pool.recv(count=bad)
        pool.send([0, 0], [0, 2])
        with pytest.raises(RuntimeError, match="needs 3 envs stepping"):
            pool.recv(count=3)
        assert sorted(pool.recv(count=2)[5].tolist()) == [0, 2]
    finally:
        pool.close()


def test_get_attr_and_set_attr_reach_every_env_between_steps():
    pool = _pool(3, batch_size=1)
    try:
        assert pool.get_attr("index") == (0, 1, 2)
        pool.set_attr("length", [4, 5, 6])
        assert pool.get_attr("length") == (4, 5, 6)
        pool.async_reset()
        with pytest.raises(RuntimeError, match=r"call\(\) while envs are stepping"):
            pool.get_attr("index")
        pool.recv(count=3)
        assert pool.call("check") == (0, 1, 2)
        pool.set_attr("fail_at", 0)
        with pytest.raises(RuntimeError, match=r"worker 0 .*failed during call.*boom at check"):
            pool.call("check")
        pool.set_attr("fail_at", None)
        assert pool.get_attr("index") == (0, 1, 2)  # a failing call leaves the envs usable
    finally:
        pool.close()
