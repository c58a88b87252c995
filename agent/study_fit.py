"""Can this hospital take part in a study? Every reason it cannot, before it enrolls.

A hospital that enrolls in a study it cannot serve is selected, locks stake, and is slashed
when it does not commit; its partners wait for it until the deadline. So the questions are
asked before the ``Enroll`` transaction (``fedledger study enroll --config``) and again when
the agent first sees the study, and every answer is given at once:

* the study's ``data_schema_hash`` is the hash of this hospital's ``schema.json``;
* the study's ``model`` is a model this agent knows, its ``model_spec_hash`` is that model's
  hash, and it takes this schema's features and label classes;
* the training and validation files match the schema (agent/data/check.py);
* with ``consent: ledger``, some training record has a consent for the study valid now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agent.consent.gate import LinkTableError, SubjectIndex, consented, read_links, snapshot
from agent.daemon.config import AgentConfig
from agent.data.check import check_files, without_path
from agent.data.schema import DataError, Schema, load_records
from agent.models import ModelSpec
from clients.fabric import Contract
from clients.ledger import Consent, Study


@dataclass(frozen=True)
class Fit:
    """The study's model spec (None when it cannot be derived) and every problem found."""

    spec: ModelSpec | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def model_fit(params: dict[str, Any], schema: Schema) -> Fit:
    """The study's model, checked against its own hash and against this hospital's schema."""
    problems = []
    if params["data_schema_hash"] != schema.hash:
        problems.append(f"the study's data schema is {params['data_schema_hash'][:12]}...; this hospital's "
                        f"schema.json hashes to {schema.hash[:12]}... (use the proposer's schema.json unchanged; "
                        "`fedledger data schema-hash` prints a file's hash)")  # fmt: skip
    name = params.get("model", "")
    try:
        spec = ModelSpec.parse(name)
    except ValueError as exc:
        return Fit(None, [*problems, f"the study's model: {exc}"])
    if spec.hash != params["model_spec_hash"]:
        problems.append(f"the study's model_spec_hash {params['model_spec_hash'][:12]}... is not the hash of its "
                        f"model {name} ({spec.hash[:12]}...)")  # fmt: skip
    if spec.input_dim != len(schema.features):
        problems.append(f"the study's model {name} takes {spec.input_dim} features; the schema has "
                        f"{len(schema.features)}")  # fmt: skip
    if spec.image is not None and spec.image != schema.image:
        shape = f"{schema.image[0]}x{schema.image[1]}" if schema.image else "no image"
        problems.append(f"the study's model {name} reads {spec.image[0]}x{spec.image[1]} images; the schema has "
                        f"{shape} ('image' in schema.json)")  # fmt: skip
    if spec.classes != schema.classes:
        problems.append(f"the study's model {name} predicts {spec.classes} classes; the schema's label has "
                        f"{schema.classes}")  # fmt: skip
    return Fit(spec, problems)


def consent_problem(study_id: str, available: int, consented: int) -> str | None:
    """With the ledger consent gate, a hospital with no consented record has nothing to train on."""
    if consented > 0:
        return None
    return (f"consent: ledger, and none of the {available} training records has a consent for {study_id} valid "
            "now: nothing may be trained on (patients grant consent with `fedledger consent grant`; a consortium "
            "that trains under another legal basis sets `consent: none`, see docs/your-own-data.md)")  # fmt: skip


def hospital_fit(cfg: AgentConfig, study: dict[str, Any], consent: Contract,
                 subjects: SubjectIndex | None = None) -> Fit:  # fmt: skip
    """Everything that stops the hospital of ``cfg`` from serving ``study`` (``Study:Get``),
    read from its own files and, for the consent gate, the ledger's consents valid now."""
    problems = []
    if study["status"] not in ("PROPOSED", "ACTIVE"):
        problems.append(f"study {study['study_id']} is {study['status']}")
    try:
        schema = Schema.load(cfg.schema)
    except DataError as exc:
        return Fit(None, [*problems, f"{cfg.schema.name}: {without_path(cfg.schema, str(exc))}"])
    fit = model_fit(study["params"], schema)
    problems += fit.problems
    data, _ = check_files(schema, (cfg.train, cfg.validation))
    problems += [str(p) for p in data]
    if cfg.consent == "ledger" and not data:
        records = load_records(cfg.train, schema)
        try:
            links = read_links(cfg.links) if cfg.links else None
        except LinkTableError as exc:
            return Fit(fit.spec, [*problems, str(exc)])
        snap = snapshot(consent, cfg.msp_id, study["study_id"], int(time.time() * 1000))
        kept = consented(records, snap, subjects or SubjectIndex(consent), links)
        problem = consent_problem(study["study_id"], len(records), len(kept))
        if problem:
            problems.append(problem)
    return Fit(fit.spec, problems)


def fit_on_ledger(cfg: AgentConfig, study_id: str) -> Fit:
    """:func:`hospital_fit` for the study as the ledger holds it, read through the hospital's
    own gateway (``study enroll`` and ``data check --study`` ask this)."""
    from agent.session import hospital_session

    with hospital_session(cfg) as session:
        study = session.ledger.evaluate(Study.get(study_id))
        return hospital_fit(cfg, study, session.ledger.contract(Consent.NAME))
