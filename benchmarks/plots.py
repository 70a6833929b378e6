"""PNG plots of cost against size (matplotlib, imported only here and only if installed).

One figure per workload: on the left the median time against N on log-log axes, with a dotted
line of slope 1 (linear growth) through refexec's first point; on the right the time per op
against N, where linear growth is a flat line. The memory figure shows bytes per pending task and
the peak RSS instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.registry import WORKLOADS

if TYPE_CHECKING:
    from benchmarks.runner import Results

STYLE: dict[str, dict[str, Any]] = {
    "refexec": {"color": "tab:red", "marker": "o", "linewidth": 2.2},
    "refexec-traced": {"color": "tab:red", "marker": "o", "linestyle": "--", "alpha": 0.6},
    "refexec-nohooks": {"color": "tab:brown", "marker": ".", "linestyle": "-."},
    "simple": {"color": "tab:orange", "marker": "s"},
    "asyncio": {"color": "tab:blue", "marker": "^"},
    "uvloop": {"color": "tab:cyan", "marker": "v"},
    "trio": {"color": "tab:purple", "marker": "D"},
    "bare": {"color": "black", "marker": "x", "linestyle": ":"},
}


def write_plots(res: Results, out_dir: Path) -> tuple[list[Path], str]:
    """Write one PNG per workload into ``out_dir``; returns (files, why-none-if-empty)."""
    if importlib.util.find_spec("matplotlib") is None:
        return [], "matplotlib is not installed (pip install -e '.[bench]'); no plots written"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for workload in WORKLOADS:
        sizes = res.sizes(workload)
        if not sizes or workload == "timer-memory":  # one figure per runtime: the table says it
            continue
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        for runtime in res.runtimes(workload):
            cells = [c for s in sizes if (c := res.get(workload, runtime, s)) is not None]
            xs = [c.size for c in cells]
            style = STYLE.get(runtime, {})
            if workload == "memory":
                left.plot(xs, [c.metric("bytes_per_task") for c in cells], label=runtime, **style)
                right.plot(
                    xs,
                    [(c.metric("peak_rss_bytes") or 0) / 2**20 for c in cells],
                    label=runtime,
                    **style,
                )
            else:
                left.plot(xs, [c.median_seconds for c in cells], label=runtime, **style)
                right.plot(
                    xs, [c.median_seconds / c.ops * 1e9 for c in cells], label=runtime, **style
                )
        ref = [c for s in sizes if (c := res.get(workload, "refexec", s)) is not None]
        if workload == "memory":
            left.set(
                xscale="log",
                xlabel="N pending tasks",
                ylabel="bytes per pending task",
                title="memory: bytes per pending task (tracemalloc)",
            )
            left.set_ylim(bottom=0)
            right.set(
                xscale="log",
                yscale="log",
                xlabel="N pending tasks",
                ylabel="peak RSS (MiB)",
                title="memory: peak RSS of the process",
            )
        else:
            if ref and len(sizes) > 1:
                x0, y0 = ref[0].size, ref[0].median_seconds
                left.plot(
                    [x0, sizes[-1]],
                    [y0, y0 * sizes[-1] / x0],
                    color="grey",
                    linestyle=":",
                    linewidth=1,
                    label="slope 1 (linear)",
                )
            unit = WORKLOADS[workload].unit
            left.set(
                xscale="log",
                yscale="log",
                xlabel="N",
                ylabel="median time (s)",
                title=f"{workload}: total time vs N (log-log)",
            )
            right.set(
                xscale="log",
                xlabel="N",
                ylabel=f"ns per {unit}",
                title=f"{workload}: cost per {unit} (flat = linear)",
            )
            right.set_ylim(bottom=0)
        for ax in (left, right):
            ax.grid(True, which="both", alpha=0.3)
        left.legend(fontsize=8)
        fig.suptitle(WORKLOADS[workload].about, fontsize=9)
        fig.tight_layout()
        path = out_dir / f"{workload}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        files.append(path)
    return files, ""
