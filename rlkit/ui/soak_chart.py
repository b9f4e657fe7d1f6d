"""The soak benchmark's record as a figure: memory and throughput over the minutes of a run."""

from __future__ import annotations

from typing import Any

from rlkit.ui.figures import subplots


def plot_soak(record: dict[str, Any]) -> Any:
    """Two panels over wall time: resident memory (this process, and with its engines and
    workers) and env steps/s, with the moment the replay buffer filled marked.

    :param record: what :func:`rlkit.bench.soak.bench_soak` returns.
    :return: the matplotlib figure.
    """
    samples = record["samples"]
    t = [s["t"] / 60 for s in samples]
    fig, (mem, rate) = subplots(ncols=2, figsize=(10, 3.4), layout="constrained")
    mem.plot(t, [s["rss_mb"] for s in samples], label="training process")
    mem.plot(t, [s["tree_rss_mb"] for s in samples], label="with engines and workers")
    mem.set_ylabel("resident memory (MB)")
    rate.plot(t[1:], [s["steps_per_s"] for s in samples[1:]], color="tab:green")
    rate.set_ylabel("env steps/s (between samples)")
    rate.set_ylim(bottom=0)
    full = record["summary"].get("buffer_full_at_s")
    for ax in (mem, rate):
        ax.set_xlabel("minutes")
        if full is not None:
            ax.axvline(full / 60, color="grey", linestyle=":", label="replay buffer full")
    mem.legend(fontsize=8)
    drift = record["summary"].get("rss_drift_mb_per_min")
    title = f"{record['preset']}, {record['minutes']:g} min"
    if drift is not None:
        title += f": memory drift after the buffer filled {drift:+.2f} MB/min"
    fig.suptitle(title, fontsize=10)
    return fig
