"""Ledger benchmark: commit latency and sustained throughput of registry-style writes.

It brings up its own throw-away consortium (same topology as the demo: 3 Raft orderers,
4 peers, MAJORITY endorsement = 3 of 4 orgs, TLS everywhere) on separate ports, so the demo's
ledger is never touched, and serves the LoadTest contract there (chaincode/contracts/loadtest.py).

A *client* is one process with one gateway connection and one identity (User1 of a hospital,
round-robin), keeping ``window`` transactions in flight: each in-flight slot runs
endorse -> submit -> commit status and starts the next as soon as one commits. Latency is
measured per transaction from building the proposal to its VALID commit status. Throughput is
the number of transactions that committed VALID inside the measurement window divided by its
length, after a warm-up.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import cpu
from clients.ledger import LoadTest
from network.consortium import LocalConsortium, ledger_client
from network.state import StateDir
from network.topology import Topology

ENTRY = {
    "display_name": "Load test hospital",
    "share_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "contact": "bench@example.org",
}


@dataclass
class ClientResult:
    latencies_ms: list[float]
    committed_in_window: int
    failed: int
    errors: list[str]


@dataclass
class LevelResult:
    clients: int
    in_flight_per_client: int
    duration_s: float
    committed: int
    failed: int
    tps: float
    p50_ms: float
    p95_ms: float
    mean_ms: float
    cpu: dict[str, Any]


def _client(
    state_dir: str, org: str, client_id: str, window: int, start_at: float, warmup_s: float, duration_s: float
) -> ClientResult:
    """One benchmark client (runs in its own process)."""
    net = LocalConsortium.open(Path(state_dir))
    gateway = net.gateway(org, "User1")
    ledger = ledger_client(gateway)
    lock = threading.Lock()
    seq = iter(range(10**9))
    result = ClientResult([], 0, 0, [])
    window_start, window_end = start_at + warmup_s, start_at + warmup_s + duration_s

    def slot() -> None:
        while time.time() < window_end:
            with lock:
                n = next(seq)
            began = time.time()
            try:
                code, _block = ledger.endorse(LoadTest.put(client_id, n, **ENTRY)).submit().status()
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    result.failed += 1
                    if len(result.errors) < 5:
                        result.errors.append(str(exc)[:300])
                continue
            done = time.time()
            with lock:
                if code != 0:
                    result.failed += 1
                    continue
                if window_start <= began and done <= window_end:
                    result.latencies_ms.append((done - began) * 1000)
                if window_start <= done <= window_end:
                    result.committed_in_window += 1

    while time.time() < start_at:
        time.sleep(0.01)
    threads = [threading.Thread(target=slot) for _ in range(window)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gateway.close()
    return result


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def run_level(net: LocalConsortium, clients: int, window: int, warmup_s: float, duration_s: float) -> LevelResult:
    ctx = mp.get_context("spawn")
    orgs = [o.name for o in net.topology.hospitals]
    start_at = time.time() + 3.0 + 0.15 * clients  # time for every process to start and connect
    pids = {s.name: s.pid for s in net.status() if s.pid}
    snaps: list[cpu.CpuSnapshot] = []

    def sample_window() -> None:
        for edge in (start_at + warmup_s, start_at + warmup_s + duration_s):
            time.sleep(max(0.0, edge - time.time()))
            snaps.append(cpu.snapshot(pids))

    sampler = threading.Thread(target=sample_window, daemon=True)
    sampler.start()
    with ctx.Pool(clients) as pool:
        jobs = [
            pool.apply_async(
                _client,
                (
                    str(net.state.root),
                    orgs[i % len(orgs)],
                    f"c{i}-{int(start_at)}",
                    window,
                    start_at,
                    warmup_s,
                    duration_s,
                ),
            )
            for i in range(clients)
        ]
        results = [j.get(timeout=warmup_s + duration_s + 120) for j in jobs]
    sampler.join()
    latencies = [lat for r in results for lat in r.latencies_ms]
    committed = sum(r.committed_in_window for r in results)
    failed = sum(r.failed for r in results)
    errors = [e for r in results for e in r.errors]
    if errors:
        print(f"  {failed} failed transactions, e.g.: {errors[0]}")
    return LevelResult(
        clients=clients,
        in_flight_per_client=window,
        duration_s=duration_s,
        committed=committed,
        failed=failed,
        tps=round(committed / duration_s, 1),
        p50_ms=round(_percentile(latencies, 0.50), 1),
        p95_ms=round(_percentile(latencies, 0.95), 1),
        mean_ms=round(statistics.fmean(latencies), 1) if latencies else float("nan"),
        cpu=cpu.breakdown(snaps[0], snaps[1], duration_s, committed),
    )


def run(
    client_levels: list[int],
    window: int,
    warmup_s: float,
    duration_s: float,
    port_base: int,
    batch_timeout: str,
    batch_max_messages: int,
    progress=print,
) -> dict[str, Any]:
    state_root = Path(tempfile.mkdtemp(prefix="fedledger-bench-"))
    net = LocalConsortium(
        StateDir(state_root),
        Topology(port_base=port_base),
        progress=lambda m: progress(f"  network: {m}"),
        batch_timeout=batch_timeout,
        batch_max_messages=batch_max_messages,
        test_contracts=True,
        with_ipfs=False,
        with_aries=False,
    )
    try:
        net.up()
        levels = []
        for clients in client_levels:
            progress(f"{clients} client(s) x {window} in flight: {warmup_s:.0f}s warm-up + {duration_s:.0f}s measured")
            level = run_level(net, clients, window, warmup_s, duration_s)
            progress(
                f"  -> {level.tps} tps, p50 {level.p50_ms} ms, p95 {level.p95_ms} ms "
                f"({level.committed} committed, {level.failed} failed); CPU {level.cpu['machine_cores_busy']} "
                f"cores busy, {level.cpu['cpu_ms_per_tx_total']} ms CPU per tx "
                f"({level.cpu['cpu_ms_per_tx_network']} in Fabric + chaincode)"
            )
            levels.append(level)
    finally:
        net.down(purge=False)
        shutil.rmtree(state_root, ignore_errors=True)
    top = levels[-1]
    return {
        "benchmark": "ledger",
        "what": "registry-style writes (LoadTest:Put), endorse -> order -> commit, VALID only",
        "machine": {"cpus": os.cpu_count()},
        "network": {
            "orderers": len(net.topology.orderers),
            "consensus": "etcdraft",
            "peers": len(net.topology.peers),
            "endorsement": "MAJORITY of 4 application orgs (3 endorsements per transaction)",
            "batch_timeout": batch_timeout,
            "batch_max_messages": batch_max_messages,
            "tls": True,
        },
        "levels": [asdict(level) for level in levels],
        "clients": top.clients,
        "p50_ms": top.p50_ms,
        "p95_ms": top.p95_ms,
        "tps": top.tps,
        "targets": {"p50_ms_max": 300, "tps_min": 300},
        "limits": _limits_text(top),
    }


def _limits_text(level: LevelResult) -> str:
    """What bounds throughput, stated from the measured CPU breakdown."""
    c = level.cpu
    per = c["per_process"]
    peers = sum(v["ms_per_tx"] for k, v in per.items() if k.startswith("peer"))
    chaincode = sum(v["ms_per_tx"] for k, v in per.items() if k.startswith("chaincode"))
    orderers = sum(v["ms_per_tx"] for k, v in per.items() if k.startswith("orderer"))
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / c["cpu_ms_per_tx_total"] if c["cpu_ms_per_tx_total"] else float("nan")
    return (
        f"CPU-bound: {c['machine_cores_busy']} of {cores} cores busy; each committed transaction costs "
        f"{c['cpu_ms_per_tx_total']} ms of CPU (peers {peers:.1f}, chaincode services {chaincode:.1f}, "
        f"orderers {orderers:.1f}, clients and rest {c['cpu_ms_per_tx_total'] - c['cpu_ms_per_tx_network']:.1f}), "
        f"so {cores} cores cap throughput near {ceiling:.0f} tps at this topology"
    )


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
