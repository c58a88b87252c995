"""Console benchmark: page times with 30 hospitals' and 100 rounds' history on the ledger, and
a 10-round study's provenance certificate.

One throw-away network (the real peers of HospitalA/B/C and the Regulator plus 27 simulated
hospitals, as in bench/governance.py) records 10 studies of 10 rounds each, every one of the 30
hospitals a participant of every round (about 65 transactions per round). The console then
serves it as the Regulator, in this process, over real mutual TLS, and each view is asked for
``--requests`` times by an HTTPS client holding the Regulator officer's certificate:

* ``cold``: the console's per-height cache emptied before every request, so each one reads the
  ledger through the gateway peer (what a page costs the first time after a new block);
* ``warm``: the same page again at the same height (what every further reader pays).

``page_p95_ms`` reports the cold figures (the target, <= 300 ms, is for them). The certificate
figures are for the last study's final model: issue (through the Regulator's gateway peer),
verify (offline, from the file), and the file's size.
"""

from __future__ import annotations

import shutil
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.governance import Hospital, play_round, setup, study_args
from clients.fabric import Gateway
from clients.ledger import Compliance
from console.server import Console, ConsoleSettings, build
from network.admins import Admins
from network.consortium import LocalConsortium, ledger_client
from network.state import StateDir
from network.topology import Topology
from provenance import certificate
from provenance.channel_config import ChannelTrust
from provenance.issue import channel_config_block, issue
from provenance.verify import verify

Progress = Callable[[str], None]
HOSPITALS = 30
STUDIES = 10
ROUNDS = 10


def _record_history(net: LocalConsortium, topology: Topology, progress: Progress) -> list[str]:
    """10 studies x 10 rounds with every hospital in every round; the study ids."""
    studies = []
    with ExitStack() as stack:
        admins = stack.enter_context(Admins(net, [o.name for o in topology.hospitals]))
        setup(net, admins, progress)
        hospitals = [stack.enter_context(closing(Hospital(net, o.msp_id, o.name))) for o in topology.hospitals]
        started = time.monotonic()
        for s in range(STUDIES):
            sid = f"history-{s:02d}"
            params = {**study_args(sid, HOSPITALS), "rounds": ROUNDS, "reward_pool": 1000 * ROUNDS}
            admins.create_study(params, enroll=[h.name for h in hospitals])
            for n in range(ROUNDS):
                play_round(hospitals, sid, n)
            studies.append(sid)
            done = (s + 1) * ROUNDS
            progress(f"history: {done}/{STUDIES * ROUNDS} rounds recorded ({time.monotonic() - started:.0f}s)")
    return studies


def _serve(net: LocalConsortium, home: Path, port: int) -> tuple[uvicorn.Server, Console, Gateway]:
    gateway = net.gateway("Regulator", "User1")
    console = build(ledger_client(gateway), ConsoleSettings(port=port, state_dir=home))
    server = uvicorn.Server(console.config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    return server, console, gateway


def _client(net: LocalConsortium) -> httpx.Client:
    msp = net.state.user_dir(net.org("Regulator"), "User1") / "msp"
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the bench trusts its own console
    ctx.load_cert_chain(next((msp / "signcerts").iterdir()), next((msp / "keystore").iterdir()))
    return httpx.Client(verify=ctx, timeout=60)


def _p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0], 1)


def run(port_base: int, requests: int = 20, progress: Progress = print) -> dict[str, Any]:
    state_root = Path(tempfile.mkdtemp(prefix="fedledger-consolebench-"))
    topology = Topology(port_base=port_base, simulated_hospitals=HOSPITALS - 3)
    net = LocalConsortium(StateDir(state_root), topology, progress=lambda m: progress(f"  network: {m}"),
                          test_contracts=False, with_ipfs=False, with_aries=False)  # fmt: skip
    try:
        net.up()
        t = time.monotonic()
        studies = _record_history(net, topology, progress)
        history_s = time.monotonic() - t
        port = port_base + 90
        server, console, gateway = _serve(net, state_root / "console", port)
        hub = console.hub
        base = f"https://127.0.0.1:{port}"
        with gateway, _client(net) as http:
            last = studies[-1]
            with net.ledger("Regulator", "User1") as ledger:
                timeline = ledger.evaluate(Compliance.study_timeline(last))
                final = ledger.evaluate(Compliance.model_lineage(last))["versions"][-1]["model_out"]["hash"]
            deadline = time.monotonic() + 120
            while hub.block_of(timeline[-1]["tx_id"]) is None and time.monotonic() < deadline:
                time.sleep(0.5)  # the console's event index has read the whole history
            views = {
                "consortium": "/", "studies": "/studies", "study": f"/studies/{last}",
                "lineage": f"/studies/{last}/lineage", "hospital": "/hospitals/HospitalAMSP",
                "hospital_simulated": f"/hospitals/{topology.hospitals[-1].msp_id}", "consent": "/consent",
                "search_transaction": f"/search?q={timeline[-1]['tx_id']}",
                "search_block": f"/search?q={hub.block_of(timeline[-1]['tx_id'])}",
                "search_model": f"/search?q={final}",
            }  # fmt: skip
            pages: dict[str, dict[str, float]] = {}
            for name, path in views.items():
                cold, warm = [], []
                for _ in range(requests):
                    console.reader.clear()
                    t = time.monotonic()
                    r = http.get(base + path)
                    cold.append((time.monotonic() - t) * 1000)
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                    t = time.monotonic()
                    http.get(base + path).raise_for_status()
                    warm.append((time.monotonic() - t) * 1000)
                pages[name] = {"cold_p95_ms": _p95(cold), "warm_p95_ms": _p95(warm),
                               "cold_median_ms": round(statistics.median(cold), 1),
                               "bytes": len(r.content)}  # fmt: skip
                progress(f"{name:<20} cold p95 {pages[name]['cold_p95_ms']:7.1f} ms   warm p95 "
                         f"{pages[name]['warm_p95_ms']:6.1f} ms   {len(r.content) / 1024:6.1f} KiB")  # fmt: skip
            with net.ledger("Regulator", "User1") as ledger:
                t = time.monotonic()
                cert = issue(ledger, final)
                issue_s = time.monotonic() - t
                config = channel_config_block(ledger.network)
            raw = cert.dumps()
            t = time.monotonic()
            verify(certificate.load(raw), ChannelTrust.from_block(config))
            verify_s = time.monotonic() - t
        server.should_exit = True
        hub.stop()
    finally:
        net.down()
        shutil.rmtree(state_root, ignore_errors=True)
    return {
        "benchmark": "console",
        "what": "console page times (cold: cache emptied, each request reads the ledger; warm: same height) with "
                "30 hospitals and 100 rounds of history; a 10-round study's certificate",
        "history": {"hospitals": HOSPITALS, "studies": STUDIES, "rounds_per_study": ROUNDS,
                    "recorded_in_s": round(history_s, 1), "requests_per_view": requests},
        "pages": pages,
        "page_p95_ms": {k: v["cold_p95_ms"] for k, v in pages.items()},
        "certificate_issue_s": round(issue_s, 3),
        "certificate_verify_s": round(verify_s, 3),
        "certificate_kb": round(len(raw) / 1024, 1),
        "certificate_blocks": len(cert.blocks),
        "certificate_headers": len(cert.chain),
    }  # fmt: skip
