"""`fedledger bench ...`: benchmarks that print figures and write JSON (never timed asserts)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from fedledger.output_path import OutputPath

console = Console()
json_option = click.option("--json", "json_path", type=OutputPath(), default=None, help="Write the results here.")


def save(result: dict, json_path: Path | None) -> None:
    """Write ``result`` as JSON when asked to, and say where."""
    if json_path is None:
        return
    from bench.ledger import write_json

    write_json(result, json_path)
    console.print(f"wrote {json_path}")


@click.group("bench")
def bench_group() -> None:
    """Measure the system; every benchmark prints its figures and can write them as JSON."""


@bench_group.command("ledger")
@json_option
@click.option("--clients", default="1,4,16", show_default=True, help="Comma-separated client counts.")
@click.option("--window", default=8, show_default=True, help="Transactions in flight per client.")
@click.option("--warmup", default=5.0, show_default=True, help="Seconds of warm-up per level.")
@click.option("--duration", default=20.0, show_default=True, help="Measured seconds per level.")
@click.option("--port-base", default=27100, show_default=True, help="Ports of the throw-away bench network.")
@click.option("--batch-timeout", default="100ms", show_default=True, help="Orderer BatchTimeout.")
@click.option("--batch-max", default=500, show_default=True, help="Orderer MaxMessageCount per block.")
def ledger(
    json_path: Path | None,
    clients: str,
    window: int,
    warmup: float,
    duration: float,
    port_base: int,
    batch_timeout: str,
    batch_max: int,
) -> None:
    """Commit latency and sustained throughput of registry-style writes, 1/4/16 clients."""
    from bench import ledger as bench_ledger

    levels = [int(c) for c in clients.split(",") if c.strip()]
    result = bench_ledger.run(
        levels, window, warmup, duration, port_base, batch_timeout, batch_max, progress=console.print
    )
    console.print(
        f"[bold]{result['clients']} clients:[/bold] p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"{result['tps']} tps (targets: p50 <= 300 ms, >= 300 tps)"
    )
    save(result, json_path)


@bench_group.command("governance")
@json_option
@click.option("--sizes", default="3,10,30", show_default=True, help="Consortium sizes (hospitals) to measure.")
@click.option("--port-base", default=27300, show_default=True, help="Ports of the throw-away bench network.")
def governance(json_path: Path | None, sizes: str, port_base: int) -> None:
    """Ledger time of one complete governance round for 3, 10 and 30 hospitals."""
    from bench import governance as bench_governance

    result = bench_governance.run([int(s) for s in sizes.split(",") if s.strip()], port_base, console.print)
    for r in result["sizes"]:
        console.print(
            f"[bold]{r['hospitals']:>3} hospitals[/bold]: {r['round_ledger_s']:.2f} s per round "
            f"(open {r['open_s']:.2f}, commit {r['commit_s']:.2f}, advance {r['advance_s']:.2f}, "
            f"aggregate {r['aggregate_s']:.2f}, validate+settle {r['validate_settle_s']:.2f})"
        )
    save(result, json_path)


@bench_group.command("consortium")
@json_option
@click.option("--port-base", default=27500, show_default=True, help="Ports of the throw-away bench networks.")
@click.option("--lab", default="flbench", show_default=True, help="Name of the namespace hosts' lab (needs root).")
def consortium(json_path: Path | None, port_base: int, lab: str) -> None:
    """A round with Raft and with BFT ordering, and on namespace hosts; a hospital joining the
    running channel; a chaincode upgrade with a round open."""
    from bench import consortium as bench_consortium

    result = bench_consortium.run(port_base, lab, console.print)
    console.print(
        f"[bold]round[/bold]: Raft {result['round_ledger_s_raft']:.2f} s, BFT {result['round_ledger_s_bft']:.2f} s "
        f"({result['bft_vs_raft']:.2f}x, target <= 1.5x); on hosts {result['multihost_round_s']:.2f} s "
        f"({result['multihost_vs_one_machine']:.2f}x one machine); "
        f"[bold]join[/bold] {result['join_s']:.1f} s (target < 60 s); [bold]upgrade[/bold] {result['upgrade_s']:.1f} s"
    )
    save(result, json_path)


@bench_group.command("console")
@json_option
@click.option("--port-base", default=28100, show_default=True, help="Ports of the throw-away bench network.")
@click.option("--requests", default=20, show_default=True, help="Requests per view (each cold and warm).")
def console_bench(json_path: Path | None, port_base: int, requests: int) -> None:
    """Console page times with 30 hospitals' and 100 rounds' history; a 10-round certificate."""
    from bench import console as bench_console

    result = bench_console.run(port_base, requests, console.print)
    worst = max(result["page_p95_ms"].items(), key=lambda kv: kv[1])
    console.print(
        f"[bold]pages[/bold]: slowest cold p95 {worst[1]:.0f} ms ({worst[0]}; target <= 300 ms); "
        f"[bold]certificate[/bold] of a 10-round study: issue {result['certificate_issue_s']:.2f} s, verify "
        f"{result['certificate_verify_s']:.2f} s (target <= 1 s), {result['certificate_kb']:.0f} KiB"
    )
    save(result, json_path)


@bench_group.command("round")
@json_option
@click.option("--port-base", default=27500, show_default=True, help="Ports of the throw-away bench network.")
@click.option("--reference-factor", default=100, show_default=True,
              help="Reference workload: each hospital's records repeated this many times (with jitter).")  # fmt: skip
@click.option("--reference-epochs", default=20, show_default=True, help="Reference workload: local epochs per round.")
@click.option("--reference-rounds", default=2, show_default=True, help="Reference workload: rounds.")
@click.option("--demo-only", is_flag=True, help="Skip the (slow) reference workload.")
@click.option("--aggregation", type=click.Choice(["secure", "trusted"]), default="secure", show_default=True,
              help="How the rounds aggregate (the demo's default is secure).")  # fmt: skip
@click.option("--audit-rate", default=0.1, show_default=True,
              help="Demo workload: share of local steps audited (the demo's default; one-party keys).")  # fmt: skip
@click.option("--bind/--no-bind", default=True, show_default=True,
              help="Demo workload, secure: bind every masked input (the demo's default; one-party keys).")  # fmt: skip
@click.option("--seeds", type=click.IntRange(1, 50), default=5, show_default=True,
              help="In-process runs per learning comparison (breast cancer and digits, epsilon 3).")  # fmt: skip
def round_cmd(json_path: Path | None, port_base: int, reference_factor: int, reference_epochs: int,
              reference_rounds: int, demo_only: bool, aggregation: str, audit_rate: float,
              bind: bool, seeds: int) -> None:  # fmt: skip
    """Per-round time split into training, IPFS, proving, binding, aggregation and ledger for the
    demo workload (audited, secure with bound inputs, as `make demo` runs it) and a heavier
    reference workload, against an in-process FedAvg baseline in the same run."""
    from bench import round as bench_round

    result = bench_round.run(port_base, reference_factor, reference_epochs, reference_rounds, demo_only, console.print,
                             aggregation, audit_rate, bind, seeds)  # fmt: skip
    console.print(
        f"[bold]round_wall_s[/bold] {result['round_wall_s']:.2f} (demo workload; target <= 6); "
        f"[bold]ledger_s_per_round[/bold] {result['ledger_s_per_round']:.2f} (target <= 2); "
        f"[bold]ledger_overhead_pct[/bold] {result['ledger_overhead_pct']:.1f} on the "
        f"{result['ledger_overhead_workload']} workload (target <= 5 on the reference workload); "
        f"[bold]fed_dp_accuracy_mean[/bold] {result['fed_dp_accuracy_mean']:.3f} +- "
        f"{result['fed_dp_accuracy_std']:.3f} over {result['fed_dp_seeds']} seeds (this run's network study "
        f"{result['fed_dp_accuracy']:.3f}) vs [bold]central_accuracy[/bold] {result['central_accuracy']:.3f} "
        f"(target: within 0.01; the same training at epsilon 100, little noise: "
        f"{result['fed_little_noise_accuracy_mean']:.3f}); digits: federated "
        f"{result['learning']['digits']['gain_over_best_alone'] * 100:+.1f} "
        "points over the best hospital alone (target >= +5)"
    )
    save(result, json_path)


@bench_group.command("consent")
@json_option
@click.option("--port-base", default=27700, show_default=True, help="Ports of the throw-away bench network.")
@click.option("--credentials", default=30, show_default=True, help="Consent credentials to issue and register.")
def consent_cmd(json_path: Path | None, port_base: int, credentials: int) -> None:
    """Consent credentials: ACA-Py issue + store, ledger registration, in-chaincode verification,
    and consent filtering of 100k records."""
    from bench import consent as bench_consent

    result = bench_consent.run(port_base, credentials, console.print)
    console.print(
        f"[bold]verify_ms[/bold] {result['verify_ms']} (target <= 20); [bold]filter_100k_s[/bold] "
        f"{result['filter_100k_s']} (target <= 1); issue+store {result['issue_store_ms']} ms, "
        f"ledger registration {result['register_ms']} ms"
    )
    save(result, json_path)


@bench_group.command("secagg")
@json_option
@click.option("--port-base", default=27900, show_default=True, help="Ports of the throw-away Kubo daemons.")
@click.option("--hospitals", default="3,5,10", show_default=True, help="Comma-separated consortium sizes.")
@click.option("--params", default="100000,1000000", show_default=True, help="Comma-separated model sizes.")
@click.option("--k", "ks", default="3,5", show_default=True, help="Comma-separated committee sizes (t = k // 2 + 1).")
@click.option("--repeats", default=1, show_default=True,
              help="Runs per configuration (the 5-hospital, 1M, k=3 reference runs 3x as many).")  # fmt: skip
def secagg_cmd(json_path: Path | None, port_base: int, hospitals: str, params: str, ks: str, repeats: int) -> None:
    """Secure-committee aggregation vs the trusted aggregator, end to end (encrypt, store, fetch,
    decrypt, sum) on real Kubo daemons: wall time and bytes per configuration."""
    from bench import secagg as bench_secagg

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    result = bench_secagg.run(port_base, ints(hospitals), ints(params), ints(ks), repeats, console.print)
    if result["time_ratio"] is not None:
        console.print(
            f"[bold]time_ratio[/bold] {result['time_ratio']:.2f} (target <= 3), [bold]bytes_ratio[/bold] "
            f"{result['bytes_ratio']:.3f} (target <= 2) for 5 hospitals, 1M parameters, k = 3"
        )
    save(result, json_path)


@bench_group.command("learning")
@json_option
@click.option("--seeds", type=click.IntRange(1, 50), default=3, show_default=True, help="In-process runs per variant.")
@click.option("--data-dir", type=OutputPath(file_okay=False, dir_okay=True), default=Path(".fedledger/bench-data"),
              show_default=True, help="Where the digits split is written (reused when present).")  # fmt: skip
@click.option("--task", "task_name", type=click.Choice(["digits", "breast-cancer"]), default="digits",
              show_default=True, help="Which study's choices to compare.")  # fmt: skip
@click.option("--folds", type=click.IntRange(0, 10), default=0, show_default=True,
              help="Cross-validate over the hospitals' training and validation files with this many folds "
                   "(0: score on the validation files alone).")  # fmt: skip
@click.option("--budget", "budgets", type=click.FloatRange(0.1, 100), multiple=True, show_default=True,
              default=(1.0, 6.0, 30.0, 100.0),
              help="Other budgets (epsilon per hospital) the demo's recipe is also run at, to show what the privacy "
                   "costs (repeatable; 100 is the most a study may set).")  # fmt: skip
@click.option("--plot", "plot_path", type=OutputPath(), default=None,
              help="Also draw what the privacy costs (accuracy and log loss against the budget) as a PNG "
                   "here.")  # fmt: skip
def learning_cmd(json_path: Path | None, seeds: int, data_dir: Path, task_name: str, folds: int,
                 budgets: tuple[float, ...], plot_path: Path | None) -> None:  # fmt: skip
    """A task's learning choices side by side at epsilon 3, scored on the hospitals' validation
    files or cross-validated over their records (--folds; never the test set): for digits
    FedAvg, FedAvgM, FedProx and flat, per-layer and adaptive clipping; for breast cancer the
    audited rule (steps, learning rate, expected batch, clipping, rounds). Then the demo's
    recipe at other budgets (at the largest also centralised and by each hospital alone), and
    scikit-learn's logistic regression without privacy; for breast cancer also the rule with
    twice the steps at the largest budget."""
    from bench import learning as bench_learning

    result = bench_learning.run(data_dir, seeds, console.print, task_name, folds, budgets)
    for name, v in result["variants"].items():
        acc = v["federated"]["accuracy"]
        auroc, loss = v["federated"]["auroc"], v["federated"]["log_loss"]
        console.print(f"  {name:<32} federated accuracy {acc['mean']:.3f} +- {acc['std']:.3f}, AUROC "
                      f"{auroc['mean']:.4f}, log loss {loss['mean']:.4f} +- {loss['std']:.4f}")  # fmt: skip
    best = max(result["alone"].items(), key=lambda kv: kv[1]["accuracy"]["mean"])
    console.print(f"  centralised {result['central']['accuracy']['mean']:.3f}, best hospital alone "
                  f"{best[1]['accuracy']['mean']:.3f} ({best[0]}), all at epsilon {result['epsilon']:g}")  # fmt: skip
    console.print(f"  what the privacy costs ({result['chosen']}, federated):")
    for budget, fed in sorted(result["budgets"].items(), key=lambda kv: float(kv[0])):
        acc = fed["accuracy"]
        console.print(f"    epsilon {budget:>6}: accuracy {acc['mean']:.3f} +- {acc['std']:.3f}, "
                      f"log loss {fed['log_loss']['mean']:.4f}")  # fmt: skip
    none = result["central_no_privacy"]
    console.print(f"    no privacy ({none['model']}): accuracy {none['accuracy']['mean']:.3f}, "
                  f"log loss {none['log_loss']['mean']:.4f}")  # fmt: skip
    quiet = result["largest_budget"]
    console.print(f"    at epsilon {quiet['epsilon']:g} the same recipe centralised: accuracy "
                  f"{quiet['central']['accuracy']['mean']:.3f}, log loss {quiet['central']['log_loss']['mean']:.4f}; "
                  "each hospital alone: " + ", ".join(f"{m} {v['accuracy']['mean']:.3f}"
                                                      for m, v in quiet["alone"].items()))  # fmt: skip
    if "longer_rule" in result:
        longer = result["longer_rule"]
        console.print(f"    {longer['variant']} at epsilon {longer['epsilon']:g}: accuracy "
                      f"{longer['accuracy']['mean']:.3f}, log loss {longer['log_loss']['mean']:.4f}")  # fmt: skip
    save(result, json_path)
    if plot_path is not None:
        from bench.learning_chart import privacy_cost_png

        plot_path.parent.mkdir(parents=True, exist_ok=True)
        plot_path.write_bytes(privacy_cost_png(result))
        console.print(f"wrote {plot_path}")


@bench_group.command("peer")
@json_option
@click.option("--port-base", default=27900, show_default=True, help="Ports of the throw-away bench network.")
@click.option("--flower-port", default=29400, show_default=True,
              help="Flower's SuperLink port (its SuperNodes take the next three).")  # fmt: skip
@click.option("--workload", "workloads", type=click.Choice(["breast-cancer", "digits"]), multiple=True,
              default=("breast-cancer", "digits"), show_default=True,
              help="Which studies to run (repeatable).")  # fmt: skip
@click.option("--seeds", type=click.IntRange(0, 20), default=3, show_default=True,
              help="In-process runs for the best hospital alone at the same budget.")  # fmt: skip
@click.option("--repeats", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Runs of each system on the same records for the accuracy comparison (the first Flower run "
                   "is the timed one).")  # fmt: skip
def peer_cmd(json_path: Path | None, port_base: int, flower_port: int, workloads: tuple[str, ...], seeds: int,
             repeats: int) -> None:  # fmt: skip
    """The same studies with fedledger (ledger, secure committee, consent, audits where a circuit
    exists) and with Flower (plain FedAvg and SecAgg+, its deployment engine on loopback), same
    data, model, local DP-SGD and epsilon: round time, bytes per client, accuracy. Needs Flower:
    `FEDLEDGER_WITH_FLOWER=1 scripts/install.sh`."""
    from bench import peer

    try:
        result = peer.run(port_base, flower_port, workloads, seeds, repeats, console.print)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    for name, w in result["workloads"].items():
        console.print(
            f"[bold]{name}[/bold]: round fedledger {w['fedledger_round_s']:.2f} s, Flower {w['flower_round_s']:.2f} s "
            f"(SecAgg+ {w['flower_secagg_round_s']:.2f} s); accuracy over {w['accuracy_runs']} runs each: fedledger "
            f"{w['fedledger_accuracy']:.3f}, Flower {w['flower_accuracy']:.3f}, "
            f"difference {w['accuracy_difference']:+.3f} "
            f"({_interval(w['accuracy_difference_ci95'])}); "
            f"one run: SecAgg+ {w['flower_secagg_accuracy']:.3f}, fedledger with consent "
            f"{w['fedledger_consented_accuracy']:.3f}; centralised "
            f"{w['central_accuracy']:.3f}, best hospital alone at the same budget {w['best_alone_dp_accuracy']}; bytes "
            f"per client per round fedledger {w['fedledger_bytes_per_client']}, Flower {w['flower_bytes_per_client']}"
        )
    save(result, json_path)


def _interval(ci: list[float] | None) -> str:
    return f"95% interval {ci[0]:+.3f} to {ci[1]:+.3f}" if ci else "one run each: no interval"


@bench_group.command("zk")
@json_option
@click.option("--proofs", default=5, show_default=True, help="Honest steps proven per circuit.")
@click.option("--trials", default=2000, show_default=True, help="Simulated rounds per detection-table cell.")
@click.option("--ceremony", "with_ceremony", is_flag=True, help="Also time a 3-party ceremony (about 4 min).")
def zk_cmd(json_path: Path | None, proofs: int, trials: int, with_ceremony: bool) -> None:
    """Setup, prove and verify times, key sizes and peak memory of the training-step circuits,
    and the audit detection table (cheaters faking a fraction f of steps, k audited steps)."""
    from bench import zk as bench_zk

    result = bench_zk.run(proofs, trials, with_ceremony, console.print)
    console.print("[bold]detection[/bold] (fake fraction f, audited steps k: caught vs 1-(1-f)^k)")
    for row in result["detection"]:
        console.print(f"  f={row['fake_fraction']:<5} k={row['audited_steps']:<3} caught {row['caught']:.3f}  "
                      f"formula {row['formula']:.3f}")  # fmt: skip
    console.print(
        f"[bold]prove_s[/bold] {result['prove_s']} (target <= 1), [bold]verify_ms[/bold] {result['verify_ms']} "
        f"(target <= 10), [bold]pk_mb[/bold] {result['pk_mb']} (target <= 100) for the demo's logistic regression"
    )
    save(result, json_path)


@bench_group.command("hostile")
@json_option
@click.option("--cases", "n_cases", default=40_000, show_default=True,
              help="Random generated cases, spread over the ledger phases (the sweep adds its own).")  # fmt: skip
@click.option("--seed", default=1, show_default=True, help="Seed of the case generator (same seed, same cases).")
@click.option("--sweep", type=click.Choice(["full", "limits", "none"]), default="full", show_default=True,
              help="Per phase, also run every variant of every entry point once (or the size limits).")  # fmt: skip
@click.option("--every", default=10_000, show_default=True, help="Print a progress line every N cases.")
def hostile_cmd(json_path: Path | None, n_cases: int, seed: int, sweep: str, every: int) -> None:
    """Generated hostile calls against every entry point in every ledger phase, in process: 5xx,
    refusals that changed state, and the CPU time of the worst call per entry point."""
    from bench import hostile as bench_hostile

    result = bench_hostile.run(n_cases, seed, console.print, every, sweep)
    for row in bench_hostile.table(result):
        console.print(row, markup=False, highlight=False, soft_wrap=True)
    for name, group in result["problems_by_cause"].items():
        console.print(f"[red]{group['count']} x {name}[/red] in {', '.join(group['functions'])}")
    console.print(
        f"[bold]cases[/bold] {result['cases']}, [bold]status_5xx[/bold] {result['status_5xx']} (target 0), "
        f"[bold]refusals_that_changed_state[/bold] {result['refusals_that_changed_state']} (target 0), "
        f"[bold]worst_ms[/bold] {result['worst_ms']:.2f} (target <= {bench_hostile.TARGET_WORST_MS:.0f}); "
        f"outcomes {result['outcomes']}, {result['elapsed_s']} s"
    )
    save(result, json_path)
