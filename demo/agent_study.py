"""A whole study run by hospital agents on a local network: the main job's core.

The consortium admins fund, stake, publish the initial model and create the study; three
agent processes (one per hospital, each with its own identity, gateway, IPFS node, keys and
journal) do everything else on ledger events; a read-only observer (the Regulator) shows the
progress; at the end the study is measured (demo/study_report.py).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from agent.aggregation import FEDAVG, ServerStep
from agent.daemon.config import AgentConfig, TrainingConfig
from agent.daemon.submitter import FAULT_ENV
from agent.data import demo_split
from agent.data.schema import Schema, load_records
from agent.models import LOGREG_30, ModelSpec, get_weights
from agent.zk import participant as zkp
from demo.agent_processes import AgentProcess, wait_all
from demo.consent_setup import Cohort, enroll_and_consent, mid_study_events
from demo.consortium_admin import publish_initial_model, study_params
from demo.learning_baselines import PlanMaker, Recipe, compare
from demo.local_agents import local_agent_config
from demo.study_report import StudyReport, build_report
from demo.study_watch import StudyProgress, watch
from demo.zk_setup import ZkKeys, audit_params, bind_params, distribute, register, training_rule
from network.admins import Admins
from network.consortium import LocalConsortium


@dataclass(frozen=True)
class StudyPlan:
    rounds: int = 3
    epsilon_per_round: float = 1.0
    spec: ModelSpec = LOGREG_30
    training: TrainingConfig = field(default_factory=TrainingConfig)
    compression: str = "none"
    # "none" until the demo's patients grant consent through ACA-Py (consent issue); agents
    # outside the demo default to "ledger"
    consent: str = "none"
    data: demo_split.DemoData | None = None  # default: the demo split
    window_s: int = 600
    aggregation: str = "secure"  # or "trusted" (committee of one that sees every update)
    # audited study: the circuit's keys (demo/zk_setup.py), the share of steps audited and
    # the exact number of local steps per round
    zk: ZkKeys | None = None
    audit_rate_ppm: int = 0
    local_steps: int = 30
    # secure study with bound inputs: the binding circuit's keys, the model's step circuit (for
    # its weight count) and the bound on each update's L2 norm (chaincode/contracts/binding.py)
    bind: ZkKeys | None = None
    circuit: str = "logreg-d30-b32"
    update_norm: float = 10.0
    # learning under heterogeneity (study parameters on the ledger)
    server: ServerStep = FEDAVG
    prox_mu: float = 0.0
    title: str = "Breast cancer malignancy, DP-SGD"
    # in-process runs of the same training at the same budget (demo/learning_baselines.py):
    # each hospital alone and centralised, for the final table; 0 skips them
    baseline_seeds: int = 0


@dataclass
class StudyRun:
    study_id: str
    report: StudyReport
    agents: dict[str, AgentConfig]
    wall_s: float
    setup_s: float
    crashes: list[tuple[str, int]] = field(default_factory=list)  # (hospital, exit status) restarted
    cohort: Cohort | None = None  # the patients and their consents, when the study is consent-gated


def agent_configs(net: LocalConsortium, names: list[str], plan: StudyPlan, data: demo_split.DemoData,
                  links: dict[str, Path] | None = None,
                  study_id: str | None = None) -> dict[str, AgentConfig]:  # fmt: skip
    """One config per hospital; the agents share this machine's cores, so each trains with its
    share of them (torch's default, every core per process, oversubscribes: measured 2x slower)."""
    training = plan.training
    if not training.threads:
        training = dataclasses.replace(training, threads=max(1, (os.cpu_count() or 1) // len(names)))
    out = {}
    for n in names:
        cfg = local_agent_config(net, n)
        schema = data.schema_path
        if net.sites.separate:  # on hosts each hospital keeps its own copy of the schema too
            schema = data.train_paths[n].parent / data.schema_path.name
            shutil.copyfile(data.schema_path, schema)
        cfg = dataclasses.replace(cfg, schema=schema, train=data.train_paths[n],
                                  validation=data.validation_paths[n], training=training,
                                  compression=plan.compression, consent=plan.consent,
                                  links=(links or {}).get(n),
                                  studies=(study_id,) if study_id else cfg.studies)  # fmt: skip
        out[cfg.msp_id] = cfg
    return out


def hospital_copies(net: LocalConsortium, data: demo_split.DemoData, study_id: str) -> demo_split.DemoData:
    """Each hospital's own copy of its training records for this study (an erasure deletes rows
    from it; the shared demo split stays as it is); on hosts, of its validation records too,
    in its own state directory."""

    def copy(n: str, path: Path) -> Path:
        target = net.state_of(net.org(n)).root / "agents" / net.org(n).short / study_id / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return target

    train = {n: copy(n, p) for n, p in data.train_paths.items()}
    validation = data.validation_paths
    if net.sites.separate:
        validation = {n: copy(n, p) for n, p in validation.items()}
    return dataclasses.replace(data, train_paths=train, validation_paths=validation)


def run_agent_study(
    net: LocalConsortium,
    console: Console,
    plan: StudyPlan,
    study_id: str | None = None,
    agent_env: dict[str, dict[str, str]] | None = None,
    timeout_s: float = 1800,
    restarts: int = 0,
) -> StudyRun:
    """Run a study end to end with one agent process per hospital. ``agent_env`` adds
    environment variables per hospital name (fault injection in tests); an agent that exits
    with an error is restarted up to ``restarts`` times, as a service supervisor would, with
    any injected fault removed."""
    started = time.monotonic()
    sid = study_id or f"study-{int(time.time())}"
    data = plan.data or demo_split.build(net.state.root / "demo-data")
    schema = Schema.load(data.schema_path)
    cohort = None
    with Admins(net) as admins:
        console.print("  tokens: majority-approved mints where needed, then each hospital stakes")
        admins.fund_and_stake(sid)
        model = publish_initial_model(admins, sid, plan.spec)
        if plan.consent == "ledger" or net.sites.separate:  # on hosts each hospital reads only its own files
            data = hospital_copies(net, data, sid)
        if plan.consent == "ledger":
            cohort = enroll_and_consent(net, data, sid, console)
        # each agent works on this study only (its config names it), not on whatever else is on the ledger
        configs = agent_configs(net, admins.names, plan, data, cohort.links if cohort else None, sid)
        agents = [
            AgentProcess(cfg, cfg.state_dir / "agent.yaml", until_done=sid, env=(agent_env or {}).get(cfg.org, {}),
                         netns=net.sites.netns(net.topology.host_of(net.org(cfg.org))))
            for cfg in configs.values()
        ]  # fmt: skip
        for a in agents:
            a.start()
        console.print(
            f"  started {len(agents)} hospital agents (`fedledger agent run`), logs in {net.state.root}/agents"
        )
        params = study_params(sid, plan.spec, model, schema, rounds=plan.rounds,
                              epsilon_per_round=plan.epsilon_per_round, window_s=plan.window_s,
                              aggregation=plan.aggregation, server=plan.server, prox_mu=plan.prox_mu,
                              title=plan.title)  # fmt: skip
        if plan.zk is not None and plan.audit_rate_ppm > 0:
            register(admins, plan.zk)
            distribute(plan.zk, configs)
            params.update(audit_params(plan.zk, get_weights(plan.spec.build(seed=0)), plan.audit_rate_ppm,
                                       plan.local_steps))  # fmt: skip
            console.print(f"  audited study: {plan.zk.circuit}, verifying key {plan.zk.vk_hash[:12]}... registered")
        if plan.bind is not None and plan.aggregation == "secure":
            register(admins, plan.bind)
            distribute(plan.bind, configs)
            params.update(bind_params(plan.bind, plan.circuit, get_weights(plan.spec.build(seed=0)), plan.update_norm))
            console.print(f"  bound inputs: {plan.bind.circuit}, verifying key {plan.bind.vk_hash[:12]}... registered, "
                          f"updates bounded to L2 norm {plan.update_norm:g}")  # fmt: skip
        try:
            crashes: list[tuple[str, int]] = []
            first_block = admins.create_study(params, lambda m: console.print(f"  {m}"))
            setup_s = time.monotonic() - started

            def agents_alive() -> None:
                for a in agents:
                    code = a.returncode
                    if code in (None, 0):
                        continue
                    if sum(org == a.cfg.org for org, _ in crashes) >= restarts:
                        raise RuntimeError(f"agent {a.cfg.org} exited with {code}:\n{a.log_tail()}")
                    crashes.append((a.cfg.org, code))
                    console.print(f"  [yellow]agent {a.cfg.org} died (exit {code}); restarting it[/yellow]")
                    a.env = {k: v for k, v in a.env.items() if k != FAULT_ENV}
                    a.start()

            progress = StudyProgress(sid, sorted(configs), plan.rounds)
            hook = mid_study_events(net, cohort, data, lambda m: console.print(f"  [magenta]{m}[/magenta]")) \
                if cohort is not None and plan.rounds >= 3 else None  # fmt: skip
            with net.gateway("Regulator", "User1") as observer:
                watch(observer, progress, console, first_block, agents_alive, timeout_s, hook)
            wait_all(agents, timeout=120)
        finally:
            for a in agents:
                a.stop()
    wall_s = time.monotonic() - started
    with net.ledger("Regulator", "User1") as observer:
        names = {cfg.msp_id: n for n, cfg in zip(admins.names, configs.values(), strict=True)}
        train = {m: load_records(data.train_paths[names[m]], schema) for m in configs}
        if cohort is not None:  # baselines get the same records: those whose patients consented
            train = {m: r.subset(np.isin(r.pseudonyms, list(cohort.consent_ids[names[m]]))) for m, r in train.items()}
        test = load_records(data.test_path, schema)
        report = build_report(observer, configs[admins.msps[0]], configs, plan.spec, sid, train, test)
    if plan.baseline_seeds:
        console.print(f"  the same training in-process at the same budget, {plan.baseline_seeds} seeds: each hospital "
                      "alone and centralised")  # fmt: skip
        report.dp_baselines = compare(recipe(plan, report.epsilon_budget, report.delta), train, test,
                                      plan.baseline_seeds, lambda m: console.print(f"    {m}"))  # fmt: skip
    return StudyRun(sid, report, configs, wall_s, setup_s, crashes, cohort)


def recipe(plan: StudyPlan, epsilon: float, delta: float) -> Recipe:
    """The study's training as demo/learning_baselines.py runs it in-process: the agents' plan
    (the audited study's fixed steps, or their DP-SGD settings) at the study's budget."""
    make = None
    if plan.zk is not None and plan.audit_rate_ppm > 0:
        make = audited_plan(plan.zk.circuit, plan.local_steps, delta)
    return Recipe(plan.spec, plan.rounds, epsilon, delta, plan.training, plan.prox_mu, plan.server, make)


def audited_plan(circuit: str, local_steps: int, delta: float, rule: dict[str, int] | None = None) -> PlanMaker:
    """The audited agents' plan maker: ``local_steps`` steps of ``circuit`` under ``rule``
    (learning rate, clipping norm, expected batch; default the demo's ``training_rule()``)."""
    params = {**(rule or training_rule()), "zk_circuit": circuit, "local_steps": local_steps,
              "delta_e12": round(delta * 1e12)}  # fmt: skip
    study = {"study_id": "baseline", "params": params}
    return lambda target, left, history: zkp.training_config(study, 0, "baseline", target, left, history)
