"""Secure-committee aggregation against the trusted aggregator, end to end, in one run.

Both modes run the agent's own code paths (agent/rounds/secure.py, agent/rounds/trusted.py)
against real Kubo daemons (one per hospital org; hospitals beyond three share them round-robin,
so fetches between orgs go over bitswap). For each configuration (hospitals x parameters x
committee size k, threshold t = k // 2 + 1) with random updates:

* **trusted**: each hospital encodes its float32 update, encrypts it for the aggregator and
  stores it; the aggregator fetches, decrypts, hash-checks and FedAvg-sums every update.
* **secure**: each hospital deals its share bundle (Shamir shares wrapped per member) and
  stores it, then masks its sample-weighted update against the others' round keys, encrypts the
  masked vector for the committee and stores it; each member fetches and checks every masked
  vector and opens its shares; a member reconstructs the self-mask seeds and unmasks the sum.

Figures: ``critical_s`` is the round's latency with parties working in parallel (the slowest
hospital's upload work + the slowest member's fetch/shares work + one unmasking), ``work_s``
the sum of every party's work; ``upload_bytes`` the mean bytes a hospital stores on IPFS.
``time_ratio`` and ``bytes_ratio`` compare secure to trusted for 5 hospitals, 1M parameters,
k = 3 (median of ``repeats`` runs). Not measured here: the ledger transactions (PublishKeys,
SubmitShares; see ``fedledger bench round``) and publishing the new model (the same in both
modes, except that in secure mode t members each publish it). The registry's share keys are
read from an in-process table: the ledger is not part of this measurement.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets as secrets_module
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.aggregation import TrustedAggregatorFedAvg
from agent.federation import Hospital
from agent.keys import public_b64
from agent.rounds import RoundMode
from agent.rounds.commit import commit_args
from agent.rounds.secure import SecureMode, committee_shares, fetch_bundles, fetch_masked, publish_keys
from agent.rounds.trusted import TrustedMode, collect_updates
from agent.secagg import field
from agent.secagg.binding import BLINDING_ELEMENTS, Blinding, pair_values, prove, unmask_and_check
from agent.secagg.protocol import RoundSecrets, context, revealed_secrets, unmask_with
from agent.storage.vault import KeyStore, Vault
from agent.zk import binary
from bench.throwaway import storage_nodes
from chaincode.contracts.zk_audit import verify_proofs
from chaincode.contracts.zk_circuits import bind_name
from clients.kubo import DEFAULT_MAX_BYTES, IPFSClient

NODES = ("HospitalA", "HospitalB", "HospitalC")
REFERENCE = {"hospitals": 5, "params": 1_000_000, "k": 3}


@dataclass(frozen=True)
class CountingIPFS(IPFSClient):
    """Kubo client that tallies the bytes stored and fetched."""

    tally: dict[str, int] = dataclasses.field(default_factory=lambda: {"up": 0, "down": 0})

    def add(self, data: bytes, pin: bool = True) -> str:
        self.tally["up"] += len(data)
        return super().add(data, pin)

    def cat(self, cid: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        data = super().cat(cid, max_bytes)
        self.tally["down"] += len(data)
        return data


class KeyTable:
    """Answers ``Registry:Get`` for share keys from memory (no ledger in this benchmark)."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys

    def evaluate(self, fn: str, args: dict[str, Any]) -> dict[str, str]:
        return {"msp_id": args["msp_id"], "share_key": self.keys[args["msp_id"]]}


@dataclass(frozen=True)
class Dim:
    n: int

    def parameter_count(self) -> int:
        return self.n


def _hospitals(net: Any, count: int, tmp: Path) -> dict[str, Hospital]:
    privates = {f"Hosp{i:02d}MSP": x25519.X25519PrivateKey.generate() for i in range(count)}
    table = KeyTable({m: public_b64(k) for m, k in privates.items()})
    out = {}
    for i, (m, key) in enumerate(privates.items()):
        ipfs = CountingIPFS(net.ipfs_api(NODES[i % len(NODES)]))
        out[m] = Hospital(m, ipfs, Vault(ipfs, KeyStore(tmp / m)), key, table)  # type: ignore[arg-type]
    return out


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def _reset(hospitals: dict[str, Hospital]) -> None:
    for h in hospitals.values():
        h.ipfs.tally.update(up=0, down=0)  # type: ignore[attr-defined]


def _uploads(hospitals: dict[str, Hospital]) -> float:
    return float(np.mean([h.ipfs.tally["up"] for h in hospitals.values()]))  # type: ignore[attr-defined]


def _downloads(hospitals: dict[str, Hospital]) -> int:
    return sum(h.ipfs.tally["down"] for h in hospitals.values())  # type: ignore[attr-defined]


def _commit(mode: RoundMode, h: Hospital, rnd: dict[str, Any], result: Any) -> dict[str, Any]:
    """What a participant does at OPEN: store its update the mode's way and commit to it."""
    return commit_args(rnd, result, mode.store_update(h, rnd, result))


def trusted_round(hospitals: dict[str, Hospital], results: dict[str, Any], dim: int) -> dict[str, Any]:
    _reset(hospitals)
    names = sorted(hospitals)
    rnd: dict[str, Any] = {"study_id": "bench", "round": 0, "committee": [names[0]], "inclusion": names,
                           "commitments": {}}  # fmt: skip
    upload = {}
    for m in names:
        commit, upload[m] = _timed(_commit, TrustedMode("none"), hospitals[m], rnd, results[m])
        rnd["commitments"][m] = commit
    agg = hospitals[names[0]]
    t = time.perf_counter()
    updates, excluded = collect_updates(agg, rnd, Dim(dim))  # type: ignore[arg-type]
    assert not excluded, excluded
    total = TrustedAggregatorFedAvg().aggregate(np.zeros(dim, dtype=np.float32), updates)
    aggregate_s = time.perf_counter() - t
    return {"critical_s": max(upload.values()) + aggregate_s, "work_s": sum(upload.values()) + aggregate_s,
            "participant_s": max(upload.values()), "aggregator_s": aggregate_s,
            "upload_bytes": _uploads(hospitals), "download_bytes": _downloads(hospitals), "result": total}  # fmt: skip


def _bound_summand(result: Any) -> np.ndarray:
    """A bound round's input: the encoded weighted update, then two blinding elements."""
    blinding = Blinding.new()
    return np.concatenate([field.encode(np.asarray(result.update, dtype=np.float64) * result.sample_count),
                           field.from_ints([blinding.rho0, blinding.rho1])])  # fmt: skip


def secure_round(hospitals: dict[str, Hospital], results: dict[str, Any], dim: int, k: int,
                 bound: bool = False) -> dict[str, Any]:  # fmt: skip
    """One secure round; ``bound``: with the binding's work that grows with the model (each
    participant's values of its pair masks at the point, each member's values of every included
    input at the point). The binding proof itself needs a model with a binding circuit (at most
    4096 weights) and is measured apart (``binding_proofs``)."""
    _reset(hospitals)
    names = sorted(hospitals)
    t_needed = k // 2 + 1
    rnd: dict[str, Any] = {"study_id": "bench", "round": 0, "committee": names[:k], "threshold": t_needed,
                           "keys": {}, "commitments": {}, "shares": {}}  # fmt: skip
    secrets = {m: RoundSecrets.new() for m in names}
    upload = {}
    for m in names:  # KEYS: deal and store share bundles
        args, upload[m] = _timed(publish_keys, hospitals[m], rnd, secrets[m])
        rnd["keys"][m] = {"msp_id": m, **args}
    rnd["masking_set"] = names
    for m in names:  # OPEN: mask, encrypt for the committee, store
        mode = SecureMode(lambda m=m: secrets[m], summand=_bound_summand if bound else None)
        commit, seconds = _timed(_commit, mode, hospitals[m], rnd, results[m])
        rnd["commitments"][m] = commit
        upload[m] += seconds
    rnd["inclusion"], rnd["reveal"] = names, {"seed": names, "key": []}
    ctx, z = context("bench", 0), secrets_module.randbelow(field.P)
    elements = field.elements(dim) + (BLINDING_ELEMENTS if bound else 0)
    bind_s = {m: 0.0 for m in names}
    if bound:  # PROVE: each participant's pair values (its proof is measured apart)
        publics = {m: rnd["keys"][m]["round_public"] for m in names}
        for m in names:
            peers = [p for p in names if p != m]
            _, bind_s[m] = _timed(pair_values, m, secrets[m].round_key, publics, peers, ctx, elements, z)
    rnd["bound"] = bound
    member_s, masked_by = {}, {}
    for m in rnd["committee"]:  # AGGREGATE: each member checks every masked vector, opens its shares
        t = time.perf_counter()
        masked_by[m] = fetch_masked(hospitals[m], rnd, Dim(dim))  # type: ignore[arg-type]
        args = committee_shares(hospitals[m], rnd, Dim(dim), masked_by[m])  # type: ignore[arg-type]
        member_s[m] = time.perf_counter() - t
        rnd["shares"][m] = {"status": "valid", "shares": args["shares"]}
    first = rnd["committee"][0]
    t = time.perf_counter()  # one member reconstructs the seeds and unmasks the weighted sum
    bundles = fetch_bundles(hospitals[first], rnd, names)
    seeds, keys = revealed_secrets(rnd["reveal"], bundles, rnd["shares"])
    check_s = 0.0
    if bound:  # the member's check and its unmasking, from one reading of the inputs
        publics = {m: rnd["keys"][m]["round_public"] for m in names}
        tc = time.perf_counter()
        _, ring = unmask_and_check(masked_by[first], seeds, keys, publics, ctx, z)
        check_s = time.perf_counter() - tc
    else:
        ring = unmask_with(seeds, keys, bundles, masked_by[first], ctx)
    unmask_s = time.perf_counter() - t - check_s
    critical = max(upload.values()) + max(bind_s.values()) + max(member_s.values()) + check_s + unmask_s
    return {"critical_s": critical,
            "work_s": sum(upload.values()) + sum(bind_s.values()) + sum(member_s.values()) + check_s + unmask_s,
            "unmask_s": unmask_s, "participant_s": max(upload.values()), "member_s": max(member_s.values()),
            "pair_values_s": max(bind_s.values()), "check_s": check_s,  # in bound rounds: check and unmasking
            "upload_bytes": _uploads(hospitals), "download_bytes": _downloads(hospitals), "ring": ring}  # fmt: skip


def _inputs(names: list[str], dim: int, rng: np.random.Generator) -> dict[str, Any]:
    return {m: SimpleNamespace(update=rng.normal(0, 0.01, dim).astype(np.float32),
                               sample_count=int(rng.integers(100, 1000)), step_root=bytes(32), epsilon_spent=1.0,
                               audit=None)
            for m in names}  # fmt: skip


def measure(net: Any, hospitals_n: int, dim: int, k: int, repeats: int, tmp: Path) -> dict[str, Any]:
    hospitals = _hospitals(net, hospitals_n, tmp / f"h{hospitals_n}-{dim}-{k}")
    rng = np.random.default_rng(hospitals_n * 1000 + k)
    runs = []
    for _ in range(repeats):
        results = _inputs(sorted(hospitals), dim, rng)
        trusted = trusted_round(hospitals, results, dim)
        secure = secure_round(hospitals, results, dim, k)
        bound = secure_round(hospitals, results, dim, k, bound=True)
        # the unmasked sums must be the trusted FedAvg's (same inputs): a wrong protocol cannot pass
        total = sum(r.sample_count for r in results.values())
        error = 0.0
        for out in (secure, bound):
            got = field.decode(out["ring"][: field.elements(dim)], dim) / total
            error = max(error, float(np.max(np.abs(got - trusted["result"].astype(np.float64)))))
        if error > 1e-5:
            raise AssertionError(f"secure and trusted sums differ by {error}")
        runs.append((trusted, secure, error, bound))
    trusted_s = statistics.median(r[0]["critical_s"] for r in runs)
    secure_s = statistics.median(r[1]["critical_s"] for r in runs)
    bound_s = statistics.median(r[3]["critical_s"] for r in runs)
    t, s, b = runs[-1][0], runs[-1][1], runs[-1][3]
    return {
        "hospitals": hospitals_n, "params": dim, "k": k, "t": k // 2 + 1, "repeats": repeats,
        "trusted_critical_s": round(trusted_s, 3), "secure_critical_s": round(secure_s, 3),
        "trusted_work_s": round(statistics.median(r[0]["work_s"] for r in runs), 3),
        "secure_work_s": round(statistics.median(r[1]["work_s"] for r in runs), 3),
        "trusted_participant_s": round(statistics.median(r[0]["participant_s"] for r in runs), 3),
        "trusted_aggregator_s": round(statistics.median(r[0]["aggregator_s"] for r in runs), 3),
        "secure_participant_s": round(statistics.median(r[1]["participant_s"] for r in runs), 3),
        "secure_member_s": round(statistics.median(r[1]["member_s"] for r in runs), 3),
        "secure_unmask_s": round(statistics.median(r[1]["unmask_s"] for r in runs), 3),
        "trusted_upload_bytes": int(t["upload_bytes"]), "secure_upload_bytes": int(s["upload_bytes"]),
        "trusted_download_bytes": t["download_bytes"], "secure_download_bytes": s["download_bytes"],
        "time_ratio": round(secure_s / trusted_s, 3),
        "bytes_ratio": round(s["upload_bytes"] / t["upload_bytes"], 4),
        "bound_critical_s": round(bound_s, 3),
        "bound_pair_values_s": round(statistics.median(r[3]["pair_values_s"] for r in runs), 3),
        "bound_check_s": round(statistics.median(r[3]["check_s"] for r in runs), 3),
        "bound_upload_bytes": int(b["upload_bytes"]),
        "bound_time_ratio": round(bound_s / trusted_s, 3),
        "bound_bytes_ratio": round(b["upload_bytes"] / t["upload_bytes"], 4),
        "max_abs_error": max(r[2] for r in runs),
    }  # fmt: skip


def binding_proofs(directory: Path, weights: list[int], repeats: int = 5) -> list[dict[str, Any]]:
    """Per model with a binding circuit: proving time (one participant) and the chaincode's
    verification (``fedledger-zk verify`` run as every endorsing peer runs it), one-party keys."""
    rows = []
    rng = np.random.default_rng(1)
    for n in weights:
        circuit = bind_name(n)
        pk, vk = directory / f"{circuit}.pk", directory / f"{circuit}.vk"
        binary.dev_setup(circuit, pk, vk)
        vk_b64 = base64.b64encode(vk.read_bytes()).decode()
        start = [int(v) for v in rng.integers(-4000, 4000, n)]
        final = [w + int(d) for w, d in zip(start, rng.integers(-50, 50, n), strict=True)]
        proofs, prove_s, verify_ms = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            out = prove(circuit, pk, start, final, 500, secrets_module.randbelow(field.P), Blinding.new(), 2**61)
            prove_s.append(time.perf_counter() - t)
            proofs.append(out)
        for out in proofs:
            t = time.perf_counter()
            [verdict] = verify_proofs(circuit, vk_b64, [{"proof": out["proof"], "public": out["public"]}])
            verify_ms.append((time.perf_counter() - t) * 1000)
            assert verdict["valid"], verdict
        rows.append({"weights": n, "circuit": circuit, "bind_prove_s": round(statistics.median(prove_s), 3),
                     "bind_verify_ms": round(statistics.median(verify_ms), 1)})  # fmt: skip
    return rows


def run(port_base: int, hospitals: list[int], params: list[int], ks: list[int], repeats: int,
        progress: Any = print) -> dict[str, Any]:  # fmt: skip
    configs = []
    with storage_nodes("secaggbench", port_base, progress) as net, tempfile.TemporaryDirectory() as tmp:
        measure(net, 3, 10_000, 3, 1, Path(tmp))  # warm-up: Kubo connections, AES and numpy paths
        for n in hospitals:
            for dim in params:
                for k in ks:
                    if k > n:
                        progress(f"{n} hospitals, k={k}: skipped (the committee is drawn from the hospitals)")
                        continue
                    reference = {"hospitals": n, "params": dim, "k": k} == REFERENCE
                    row = measure(net, n, dim, k, repeats * 3 if reference else repeats, Path(tmp))
                    configs.append(row)
                    progress(
                        f"{n:>2} hospitals, {dim:>9,} params, k={k}: trusted {row['trusted_critical_s']:.2f}s, "
                        f"secure {row['secure_critical_s']:.2f}s (x{row['time_ratio']:.2f}), bound "
                        f"{row['bound_critical_s']:.2f}s (x{row['bound_time_ratio']:.2f}); upload per hospital "
                        f"{row['trusted_upload_bytes'] / 1e6:.2f} MB vs {row['bound_upload_bytes'] / 1e6:.2f} MB "
                        f"(x{row['bound_bytes_ratio']:.3f}); max error {row['max_abs_error']:.1e}"
                    )
        proofs = binding_proofs(Path(tmp), [31, 513])
        for p in proofs:
            progress(f"binding proof of a {p['weights']}-weight model ({p['circuit']}): proving "
                     f"{p['bind_prove_s']:.2f}s, chaincode verification {p['bind_verify_ms']:.0f} ms")  # fmt: skip
    ref = next((c for c in configs if {"hospitals": c["hospitals"], "params": c["params"], "k": c["k"]} == REFERENCE),
               None)  # fmt: skip
    return {
        "benchmark": "secagg",
        "configs": configs,
        "reference": REFERENCE,
        "time_ratio": ref["bound_time_ratio"] if ref else None,
        "bytes_ratio": ref["bound_bytes_ratio"] if ref else None,
        "unbound_time_ratio": ref["time_ratio"] if ref else None,
        "binding_proofs": proofs,
        "bind_prove_s": {p["circuit"]: p["bind_prove_s"] for p in proofs},
        "bind_verify_ms": {p["circuit"]: p["bind_verify_ms"] for p in proofs},
        "targets": {"time_ratio": 3.0, "bytes_ratio": 2.0, "bind_verify_ms": 50},
        "notes": [
            "critical_s: parties in parallel (slowest hospital upload + slowest member fetch/shares + one unmask); "
            "work_s: every party's work summed; one process on this machine's 2 cores, so parties actually ran "
            "one after another.",
            "Ledger transactions and publishing the new model are not included (see module docstring).",
            "bound: the binding's work that grows with the model (pair values at the point, each member's "
            "values of every input) with two blinding elements per input; time_ratio and bytes_ratio are the "
            "bound figures of the reference. The binding proof needs a model with a binding circuit (at most "
            "4096 weights): proving and the chaincode's verification are measured for 31 and 513 weights.",
        ],
    }
