"""docs/your-own-data.md, followed to the letter on the real network.

Every ``sh`` block of the walkthrough is run in order, command by command, through the
``fedledger`` command line (the reader's ``export PATH=...`` line is the only one replaced: the
test puts the repository's scripts on the PATH itself). A line ending in ``# exits 1`` must fail
with status 1; ``&`` starts a background command and ``wait`` waits for every one of them to
succeed. Then the outcome is checked: HospitalC's flawed export was refused with its missing
value and both type errors in one report, HospitalC's enrollment was refused while it held
another schema than the study's (and accepted with the proposer's), the study on 10-feature
data finalized all its rounds, and the evaluation scored the final model
on the held-out test set. The figures (federated with DP, centralised, each hospital alone)
are printed for the docs.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from agent.data.schema import Schema, load_records
from demo.consortium_admin import register_hospitals
from demo.study_report import baseline
from network.admins import Admins
from network.consortium import LocalConsortium

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "your-own-data.md"
STUDY = "diabetes-progression"


@dataclass
class Ran:
    line: str
    status: int
    output: str


def doc_commands() -> list[str]:
    """The command lines of the walkthrough's ``sh`` blocks, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]  # fmt: skip


def run_walkthrough(env: dict[str, str], cwd: Path, timeout_s: float) -> list[Ran]:
    ran: list[Ran] = []
    background: list[tuple[str, subprocess.Popen[str]]] = []
    deadline = time.monotonic() + timeout_s
    for line in doc_commands():
        if line.startswith("export PATH="):
            continue
        expect = 1 if line.endswith("# exits 1") else 0
        command = line.split("  #")[0].strip()
        print(f"$ {command}", flush=True)
        if command.startswith("cd "):
            cwd = cwd / shlex.split(command)[1]
            continue
        if command == "wait":
            for started, proc in background:
                out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
                ran.append(Ran(started, proc.returncode, out))
                assert proc.returncode == 0, f"`{started}` exited {proc.returncode}:\n{out[-3000:]}"
            background.clear()
            continue
        if command.endswith("&"):
            argv = shlex.split(command[:-1])
            proc = subprocess.Popen(argv, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            background.append((command, proc))
            continue
        proc = subprocess.run(shlex.split(command), cwd=cwd, env=env, text=True, capture_output=True,
                              timeout=max(1.0, deadline - time.monotonic()))  # fmt: skip
        output = proc.stdout + proc.stderr
        print(output[-2000:], flush=True)
        ran.append(Ran(command, proc.returncode, output))
        assert proc.returncode == expect, f"`{command}` exited {proc.returncode}, expected {expect}:\n{output}"
    return ran


def test_a_study_on_your_own_data_from_the_walkthrough(network: LocalConsortium, tmp_path: Path) -> None:
    with Admins(network) as admins:  # as on a fresh network: the registry holds each key store's share key
        register_hospitals(admins)
    env = {**os.environ, "PATH": f"{ROOT / 'scripts'}:{os.environ['PATH']}",
           "FEDLEDGER_NETWORK_DIR": str(network.state.root), "COLUMNS": "200"}  # fmt: skip
    ran = run_walkthrough(env, tmp_path, timeout_s=1500)

    def output_of(prefix: str) -> str:
        return next(r.output for r in ran if r.line.startswith(prefix))

    flawed = next(r for r in ran if r.status == 1)
    assert "HospitalC" in flawed.output and "3 problem(s)" in flawed.output
    assert "column bmi has 1 missing value(s) at line 5" in flawed.output
    assert "column age is not numeric at line 13 ('4,5')" in flawed.output
    assert "column glucose is not numeric at line 9 ('n/a')" in flawed.output
    refusal = " ".join([r for r in ran if r.status == 1][1].output.split())
    assert "HospitalC cannot take part in diabetes-progression; not enrolled" in refusal
    assert "this hospital's schema.json hashes to" in refusal
    assert "Traceback" not in "".join(r.output for r in ran)
    work = tmp_path / "my-study"
    study_file = (work / "study.yaml").read_text()
    assert 'model: "logreg-d10-c2"' in study_file and "# Differential privacy" in study_file
    shown_text = output_of("fedledger study show")
    shown = json.loads(shown_text[shown_text.index("{") :])
    assert shown["status"] == "COMPLETED" and shown["rounds_finalized"] == 3, shown
    assert shown["enrolled"] == ["HospitalAMSP", "HospitalBMSP", "HospitalCMSP"]
    evaluation = " ".join(output_of("fedledger model evaluate").split())
    assert "accuracy" in evaluation and "round 2 global model (logreg-d10-c2)" in evaluation, evaluation
    assert "log loss" in evaluation, evaluation

    # the figures: the federated model (scored again, as JSON) against centralised and alone
    out = subprocess.run(["fedledger", "model", "evaluate", "--config", "data/hospitala/agent.yaml", "--study", STUDY,
                          "--data", "data/test.csv", "--json"], cwd=work, env=env, text=True, capture_output=True,
                         check=True).stdout  # fmt: skip
    federated = json.loads(out)
    schema = Schema.load(work / "data" / "hospitala" / "schema.json")
    test = load_records(work / "data" / "test.csv", schema)
    train = {h: load_records(work / "data" / h / "train.csv", schema) for h in ("hospitala", "hospitalb", "hospitalc")}
    central = baseline(np.concatenate([r.x for r in train.values()]), np.concatenate([r.y for r in train.values()]),
                       test)  # fmt: skip
    alone = {h: baseline(r.x, r.y, test) for h, r in train.items()}
    print(
        f"\n[figures] diabetes progression, {len(test)} test records: federated DP (epsilon 6 per hospital) "
        f"accuracy {federated['accuracy']:.3f} F1 {federated['f1']:.3f} AUROC {federated['auroc']:.3f}; "
        f"centralised {central['accuracy']:.3f}/{central['f1']:.3f}/{central['auroc']:.3f}; "
        + "; ".join(f"{h} alone {m['accuracy']:.3f}/{m['f1']:.3f}/{m['auroc']:.3f}" for h, m in alone.items())
    )
    assert federated["records"] == len(test) and federated["round"] == 2
    assert math.isfinite(federated["log_loss"]) and federated["log_loss"] > 0, federated
    assert federated["auroc"] > 0.6, "the federated model learned nothing on a task a pooled model learns"
