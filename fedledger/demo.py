"""`fedledger demo`: the main job, end to end on a real local consortium.

It brings the network up, has each hospital's admin register its org (with a fresh X25519
share key), shows that the Regulator's write is refused, prints the registry as the Regulator
sees it, then runs a federated study with three hospital agent processes
(demo/agent_study.py), prints the federated model against centralised and local
training, and writes an HTML report with plots.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agent.keys import load_or_create_x25519, public_b64
from chaincode.contracts.binding import bind_circuit
from clients.fabric import GatewayError
from clients.ledger import Compliance, Registry
from demo.consortium_admin import register_hospitals
from demo.study_report import write_html
from demo.tasks import TASKS, task
from fedledger.network import open_network, state_dir_option
from fedledger.registry import print_registry
from network.admins import Admins
from network.binaries import ToolError
from network.consortium import LocalConsortium

console = Console(width=None if Console().is_terminal else 130)


@click.command("demo")
@state_dir_option
@click.option("--down/--keep", "stop_after", default=False, help="Stop the network at the end [default: keep].")
@click.option("--task", "task_name", type=click.Choice(TASKS), default="breast-cancer", show_default=True,
              help="breast-cancer: 30 features, binary, audited logistic regression (or --model mlp); digits: 8x8 "
                   "images of 10 digits split by label skew, a CNN (no circuit proves its steps: unaudited, "
                   "inputs not bound), FedAvgM on the ledger.")  # fmt: skip
@click.option("--rounds", type=int, default=None, help="Rounds of the federated study (0 skips it) [default: the "
              "task's, 3 for breast-cancer, 5 for digits].")  # fmt: skip
@click.option("--epsilon", default=3.0, show_default=True,
              help="DP epsilon each hospital may spend over the whole study (delta 1e-5); every round is composed "
                   "under Renyi DP.")  # fmt: skip
@click.option("--aggregation", type=click.Choice(["secure", "trusted"]), default="secure", show_default=True,
              help="secure: masked updates, shares to a committee of 3 (any 2 unmask the sum, none sees an update); "
                   "trusted: one aggregator decrypts every update.")  # fmt: skip
@click.option("--compression", type=click.Choice(["none", "int8"]), default="none", show_default=True,
              help="How agents encode updates in trusted mode (secure mode masks 6 bytes per coordinate).")  # fmt: skip
@click.option("--no-consent", is_flag=True, help="Skip the patients' consent credentials (train on every record).")
@click.option("--model", type=click.Choice(["logreg", "mlp"]), default="logreg", show_default=True,
              help="breast-cancer: logreg, logistic regression on the 30 features; mlp, the 30-16-1 ReLU "
                   "perceptron (its audited ceremony is 2^17 and took 12.5 min the first time here; proofs about "
                   "2 s each).")  # fmt: skip
@click.option("--audit-rate", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help=f"breast-cancer: share of each hospital's {task('breast-cancer').local_steps} local steps the "
                   "ledger challenges and verifies by zk proof (0: an unaudited study). The first audited run "
                   "performs the consortium's setup ceremony (~4 min, cached).")  # fmt: skip
@click.option("--baseline-seeds", type=click.IntRange(0, 20), default=3, show_default=True,
              help="In-process runs of the same training at the same budget for the final table: each hospital "
                   "alone and centralised (0: none).")  # fmt: skip
def demo(state_dir: Path | None, stop_after: bool, task_name: str, rounds: int | None, epsilon: float,
         aggregation: str, compression: str, no_consent: bool, model: str, audit_rate: float,
         baseline_seeds: int) -> None:  # fmt: skip
    """Run the main job: a local consortium network, the hospitals registered, then a federated
    study run by three hospital agents, compared with each hospital alone and centralised
    training at the same privacy budget, with an HTML report."""
    chosen = task(task_name, model)
    rounds = chosen.rounds if rounds is None else rounds
    t0 = time.monotonic()
    net = open_network(state_dir)
    console.rule("[bold]1. Consortium network")
    try:
        net.up()
    except ToolError as exc:
        raise click.ClickException(f"network up failed: {exc}") from None
    t_up = time.monotonic() - t0

    console.rule("[bold]2. Hospitals register (each org's admin, endorsed by a majority of orgs)")
    with Admins(net) as admins:
        registered = register_hospitals(admins)
    for r in registered:
        console.print(f"  {r['msp_id']:<14} {r['action']}, version {r['version']}, block {r['block']}, "
                      f"{r['latency_s'] * 1000:.0f} ms")  # fmt: skip
    latencies = [r["latency_s"] for r in registered]
    key = load_or_create_x25519(net.state.root / "keys" / net.topology.hospitals[0].short / "share_x25519.pem")

    console.rule("[bold]3. The Regulator reads, and may not write")
    with net.ledger("Regulator", "Admin") as regulator:
        try:
            regulator.submit(Registry.register("RegulatorMSP", "x", public_b64(key), "a@b.c"))
            raise click.ClickException("the Regulator's write was accepted: access control is broken")
        except GatewayError as exc:
            console.print(f"  Regulator write refused as expected: [italic]{exc.chaincode_message}[/italic]")
    with net.ledger("Regulator", "User1") as regulator:
        entries = regulator.evaluate(Registry.list())
    print_registry(entries, "Hospital registry, as the Regulator's compliance officer sees it")
    console.print(
        f"network up {t_up:.1f}s; registration commit latency "
        f"{min(latencies) * 1000:.0f}-{max(latencies) * 1000:.0f} ms; demo total {time.monotonic() - t0:.1f}s"
    )
    if rounds > 0:
        console.rule(
            f"[bold]4. A federated study ({chosen.name}): {rounds} rounds, DP-SGD, IPFS, the ledger, three hospital "
            f"agents ({'secure committee' if aggregation == 'secure' else 'trusted-aggregator mode'})"
        )
        from demo.agent_study import StudyPlan, run_agent_study

        if chosen.circuit is None and audit_rate > 0:
            console.print(f"  no zk circuit proves {chosen.spec.kind} steps: this study is not audited, and its masked "
                          "inputs are not bound to committed updates")  # fmt: skip
        circuit = chosen.circuit
        try:
            keys = bind = None
            cache = Path(os.environ.get("FEDLEDGER_CACHE", Path.home() / ".cache" / "fedledger"))
            from demo.zk_setup import consortium_ceremony

            if audit_rate > 0 and circuit is not None:
                keys = consortium_ceremony(net, circuit, cache / "zk-ceremony", lambda m: console.print(f"  {m}"))
            if aggregation == "secure" and circuit is not None:  # every masked input bound to its committed update
                bind = consortium_ceremony(net, bind_circuit(circuit), cache / "zk-ceremony",
                                           lambda m: console.print(f"  {m}"))  # fmt: skip
            plan = StudyPlan(rounds=rounds, epsilon_per_round=epsilon / rounds, compression=compression,
                             consent="none" if no_consent else "ledger", aggregation=aggregation, zk=keys,
                             audit_rate_ppm=round(audit_rate * 1_000_000) if keys else 0,
                             local_steps=chosen.local_steps, spec=chosen.spec, bind=bind, circuit=circuit or "",
                             training=chosen.training, data=chosen.data(net.state.root / chosen.folder),
                             server=chosen.server, prox_mu=chosen.prox_mu, title=chosen.title,
                             baseline_seeds=baseline_seeds)  # fmt: skip
            run = run_agent_study(net, console, plan)
        except (RuntimeError, TimeoutError, GatewayError) as exc:
            raise click.ClickException(f"the study did not finish: {exc}") from None
        print_outcome(run)
        html_path, png_path = write_html(run.report, net.state.root / "reports" / run.study_id, report_notes(run))
        console.print(f"report: {html_path} (plots also in {png_path})")
        certify_and_serve(net, run.study_id, net.state.root / "reports" / run.study_id)
        console.print(f"demo total {time.monotonic() - t0:.1f}s")
    if stop_after:
        net.down()
        console.print("network stopped (state kept; `fedledger network down --purge` deletes it)")
    else:
        console.print("The network keeps running: `scripts/fedledger network status`, `... network down [--purge]`.")


def certify_and_serve(net: LocalConsortium, study_id: str, out: Path) -> None:
    """The final model's provenance certificate, verified offline against the channel
    configuration block, and the compliance console left running for the Regulator."""
    from fedledger.console import start_detached
    from provenance import certificate, render
    from provenance.channel_config import ChannelTrust
    from provenance.issue import channel_config_block, issue
    from provenance.verify import verify

    console.rule("[bold]5. The compliance officer: the final model's certificate and the console")
    t = time.monotonic()
    with net.ledger("Regulator", "User1") as ledger:
        final = ledger.evaluate(Compliance.model_lineage(study_id))["versions"][-1]["model_out"]["hash"]
        cert = issue(ledger, final)
        config = channel_config_block(ledger.network)
    issue_s = time.monotonic() - t
    cert_path, config_path = out / f"model-{final[:16]}.cert.json", out / "channel-config.block"
    cert.save(cert_path)
    config_path.write_bytes(config)
    t = time.monotonic()
    outcome = verify(certificate.load(cert_path.read_bytes()), ChannelTrust.from_block(config_path.read_bytes()))
    verify_s = time.monotonic() - t
    page = render.html(cert, outcome)
    (out / f"model-{final[:16]}.cert.html").write_text(page)
    (out / f"model-{final[:16]}.cert.pdf").write_bytes(render.pdf(page))
    console.print(f"  certificate of model {final[:16]}: {cert_path} ({cert_path.stat().st_size / 1024:.0f} KiB, "
                  f"{len(cert.blocks)} blocks, issued in {issue_s:.1f}s); also .html and .pdf")  # fmt: skip
    for line in outcome.checks:
        console.print(f"    ok  {line}")
    console.print(f"  verified offline in {verify_s:.2f}s: `fedledger certificate verify {cert_path} "
                  f"--channel-config {config_path}`")  # fmt: skip
    url = start_detached(net)
    user = net.state.user_dir(net.org("Regulator"), "User1") / "msp"
    console.print(f"  compliance console: [bold]{url}[/bold] (mutual TLS: the Regulator's officer connects with "
                  f"{user}/signcerts/*.pem and its key; server certificate "
                  f"{net.state.root / 'console' / 'console-tls.crt'})")  # fmt: skip


def print_outcome(run: object) -> None:
    """The final table: quality, privacy and ledger overhead."""
    from demo.agent_study import StudyRun

    assert isinstance(run, StudyRun)
    r = run.report
    which = "; consented records" if run.cohort is not None else ""
    f1 = "F1" if r.classes == 2 else "macro F1"
    table = Table(title=f"Global test set, {len(r.rounds)} rounds ({r.study_id}{which})")
    for col in ("model", "accuracy", f1, "AUROC", "privacy"):
        table.add_column(col)
    for name, m, privacy in r.quality_rows():
        table.add_row(name, f"{m['accuracy']:.3f}", f"{m['f1']:.3f}", f"{m['auroc']:.3f}", privacy)
    console.print(table)
    eps = ", ".join(f"{m.removesuffix('MSP')} {e:.2f}" for m, e in sorted(r.epsilon.items()))
    console.print(f"  epsilon spent on the ledger: {eps} of {r.epsilon_budget:g} (delta {r.delta:g}; every round "
                  "composed under Renyi DP)")  # fmt: skip
    if r.dp_baselines:
        b = r.dp_baselines
        console.print(f"  federating at the same budget: {b['gain_over_best_alone'] * 100:+.1f} points of accuracy "
                      f"over the best hospital alone ({b['best_alone'].removesuffix('MSP')}), "
                      f"{b['gap_to_central'] * 100:.1f} points below centralised (in-process means)")  # fmt: skip
    timing = Table(title="Where each round's time went (critical path, seconds)")
    kinds = ("training", "ipfs", "proving", "pair values", "shares", "aggregation", "evaluation", "ledger")
    for col in ("round", "training", "IPFS", "proving", "pair values", "shares", "aggregation", "evaluation",
                "ledger", "round wall (ledger ts)"):  # fmt: skip
        timing.add_column(col)
    for row in r.rounds:
        cp = row["critical"]
        wall = f"{row['wall_s']:.2f}" if row["wall_s"] is not None else "-"
        timing.add_row(str(row["round"]), *(f"{cp.get(k, 0.0):.2f}" for k in kinds), wall)
    console.print(timing)
    for row in r.rounds:
        n = row["round"]
        if row.get("audits"):
            said = ", ".join(f"{m.removesuffix('MSP')} {status}" for m, status in sorted(row["audits"].items()))
            console.print(f"  round {n} zk audits (verified on every endorsing peer): {said}")
        if row.get("bindings"):
            said = ", ".join(f"{m.removesuffix('MSP')} {status}" for m, status in sorted(row["bindings"].items()))
            failed = sorted({m for checked in row["binding_checks"] for m in checked})
            check = (
                (
                    f"inputs of {', '.join(m.removesuffix('MSP') for m in failed)} were not their bound updates "
                    "(slashed, removed by a second reveal)"
                )
                if failed
                else "every included input is its bound update"
            )
            console.print(f"  round {n} inputs bound to committed updates (proofs verified on every endorsing peer): "
                          f"{said}; the committee's check: {check}")  # fmt: skip
    if run.cohort is not None:
        print_consent(run)
    sizes = ", ".join(f"{codec} {n} B" for codec, n in r.update_bytes.items())
    console.print(
        f"study {run.wall_s:.1f}s wall (setup {run.setup_s:.1f}s); per round: {r.wall_s_per_round:.2f}s, of which "
        f"ledger {r.ledger_s_per_round:.2f}s on the critical path; update size {sizes}"
    )


def print_consent(run: object) -> None:
    """Patients, consents and the records each round actually trained on (from the ledger)."""
    from demo.agent_study import StudyRun

    assert isinstance(run, StudyRun) and run.cohort is not None
    c = run.cohort
    table = Table(title="Consent: patients, credentials, and records trained on per round (commitments on the ledger)")
    for col in ("hospital", "patients", "consented", "declined", *(f"round {r['round']}" for r in run.report.rounds)):
        table.add_column(col)
    for n, patients in c.patients.items():
        msp = f"{n}MSP"
        table.add_row(n, str(len(patients)), str(len(c.consent_ids.get(n, {}))), str(c.declined.get(n, 0)),
                      *(str(r["records"].get(msp, "-")) for r in run.report.rounds))  # fmt: skip
    console.print(table)
    for e in c.events:
        console.print(f"  after round {e['after_round']}: one {e['hospital']} patient {e['what']}")
    console.print(f"  consent issuance through ACA-Py {c.issue_s:.1f}s, ledger registration {c.register_s:.1f}s")


def report_notes(run: object) -> list[str]:
    from demo.agent_study import StudyRun

    assert isinstance(run, StudyRun)
    secure = run.report.aggregation == "secure"
    mode = (
        "Secure committee: each hospital masked its sample-weighted update (pairwise masks that cancel in the sum "
        "plus a self mask whose seed is Shamir-shared 2-of-3 with the committee chosen by the chaincode); members "
        "published only the shares the ledger's reveal plan allows, and reconstructed the sum. No single member, "
        "and no party outside the committee, saw an update."
        if secure
        else "Trusted-aggregator mode: the round's aggregator (a committee of one chosen by the chaincode) sees every "
        "update; the secure-committee mode (the default) removes that trust."
    )
    return [
        mode,
        "Federated accuracy is the last finalized round's model on the global test set, opened from IPFS with "
        "HospitalA's key and checked against the hash on the ledger.",
        "Baselines at the same budget (DP): the study's own model and training run in-process, centralised on the "
        "pooled records and by each hospital alone, each a mean over several seeds (demo/learning_baselines.py). "
        "Baselines without DP: scikit-learn logistic regression. All on the same test set, trained on the records "
        "whose patients consented (the federated model used the same, minus later revocations and erasures).",
        f"Study wall time {run.wall_s:.1f}s including {run.setup_s:.1f}s of set-up (mints, stake, proposal).",
    ]
