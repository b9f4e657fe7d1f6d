"""Functions :func:`rlkit.distributed.launch` runs in the tests' processes.

They live in a module, not in a test file's body, for the reason notebooks must keep theirs in
the package: each process imports them by name. Each writes its pid first, so a test can check
that no process outlived the launch.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _note_pid(ctx, pid_dir) -> None:
    if pid_dir is not None:
        Path(pid_dir, f"rank{ctx.rank}.pid").write_text(str(os.getpid()))


def echo(ctx, pid_dir=None):
    """What a rank sees of itself and its environment."""
    import torch.distributed as dist

    _note_pid(ctx, pid_dir)
    return {
        "rank": ctx.rank,
        "world_size": ctx.world_size,
        "group_rank": dist.get_rank(),
        "group_size": dist.get_world_size(),
        "backend": ctx.backend,
        "pid": os.getpid(),
        "master_addr": os.environ["MASTER_ADDR"],
        "master_port": os.environ["MASTER_PORT"],
    }


def fail(ctx, failing_rank: int, how: str, pid_dir=None):
    """Rank ``failing_rank`` fails ``how``; the others wait in an all-reduce that cannot end."""
    import torch
    import torch.distributed as dist

    _note_pid(ctx, pid_dir)
    if ctx.rank == failing_rank:
        time.sleep(0.2)  # let the others reach the collective first
        if how == "raise":
            raise ValueError(f"rank {ctx.rank} was told to fail")
        if how == "exit":
            os._exit(3)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    dist.all_reduce(torch.ones(4))
    return ctx.rank


def hang(ctx, pid_dir=None):
    """Never finishes (the launcher's timeout must stop it)."""
    _note_pid(ctx, pid_dir)
    time.sleep(600)


def average_grads(ctx):
    """Gradients that differ by rank through the hook, with missing ones, twice."""
    import torch

    from rlkit.distributed import FlatAllReduce

    both = torch.nn.Parameter(torch.zeros(2, 3))
    only_rank1 = torch.nn.Parameter(torch.zeros(4))
    nobody = torch.nn.Parameter(torch.zeros(5))
    frozen = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    params = [both, only_rank1, nobody, frozen]
    hook = FlatAllReduce()
    out = []
    for step in range(2):
        both.grad = torch.full((2, 3), float(ctx.rank + 1 + step))
        only_rank1.grad = torch.arange(4.0) if ctx.rank == 1 else None
        nobody.grad = None
        hook(params)
        out.append(
            {
                "both": both.grad.tolist(),
                "only_rank1": None if only_rank1.grad is None else only_rank1.grad.tolist(),
                "nobody": nobody.grad,
                "frozen": frozen.grad,
            }
        )
    return {"steps": out, "calls": hook.calls}
