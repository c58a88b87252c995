"""CPU accounting for benchmarks: where the machine's cycles went during a measured window.

A throughput figure alone does not say what limits it; per-process CPU time divided by the
transactions committed in the same window does. Reads /proc/<pid>/stat and /proc/stat.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _machine_busy_s() -> float:
    vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(vals) - vals[3] - vals[4]) / _TICK


@dataclass(frozen=True)
class CpuSnapshot:
    machine_busy_s: float
    per_process_s: dict[str, float]


def snapshot(pids: dict[str, int]) -> CpuSnapshot:
    per = {}
    for name, pid in pids.items():
        value = _proc_cpu_s(pid)
        if value is not None:
            per[name] = value
    return CpuSnapshot(_machine_busy_s(), per)


def breakdown(a: CpuSnapshot, b: CpuSnapshot, seconds: float, transactions: int) -> dict[str, object]:
    """Cores used and CPU milliseconds per committed transaction, per process and in total."""
    tx = max(transactions, 1)
    per = {
        name: {
            "cores": round((b.per_process_s[name] - a.per_process_s[name]) / seconds, 3),
            "ms_per_tx": round((b.per_process_s[name] - a.per_process_s[name]) / tx * 1000, 2),
        }
        for name in b.per_process_s
        if name in a.per_process_s
    }
    network_s = sum(b.per_process_s[n] - a.per_process_s[n] for n in per)
    busy_s = b.machine_busy_s - a.machine_busy_s
    return {
        "machine_cores_busy": round(busy_s / seconds, 2),
        "network_cores": round(network_s / seconds, 2),
        "clients_and_other_cores": round((busy_s - network_s) / seconds, 2),
        "cpu_ms_per_tx_total": round(busy_s / tx * 1000, 1),
        "cpu_ms_per_tx_network": round(network_s / tx * 1000, 1),
        "per_process": dict(sorted(per.items(), key=lambda kv: -kv[1]["cores"])),
    }
