"""The study file: every parameter of a study, with what each means, ready for ``study propose``.

``fedledger study init`` writes one (YAML, each field preceded by a comment saying what it
means); ``fedledger study propose --file`` reads YAML or JSON. The ledger fixes every field
when the study is proposed and refuses, naming the field, any combination under which a round
could not complete (chaincode/contracts/studies.py). :data:`FIELDS` is the one description of
the fields: the file's comments, ``--help`` and docs/your-own-data.md are made from it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 256 * 1024  # the ledger takes at most this much per call

# (field, what it means); the order the study file lists them in
FIELDS: tuple[tuple[str, str], ...] = (
    ("study_id", "The study's name on the ledger: 3-40 lowercase letters, digits and '-'."),
    ("title", "What the study is about, for people (at most 120 characters)."),
    (
        "model",
        "The model every hospital trains: logreg-d<features>-c<classes> (logistic or softmax "
        "regression) or mlp-d<features>-h<hidden>-c<classes> (one hidden ReLU layer); derived from "
        "the schema.",
    ),
    ("model_spec_hash", "SHA-256 of the model's spec (canonical JSON); agents check it against 'model'."),
    ("model_cid", "IPFS CID of the initial model, encrypted to every hospital registered when it was made."),
    ("model_hash", "SHA-256 of the initial weights (float32, little-endian); agents check what they fetch."),
    (
        "data_schema_hash",
        "SHA-256 of the schema's canonical JSON (`fedledger data schema-hash`): every "
        "hospital must hold this exact schema.json.",
    ),
    (
        "epsilon_budget_micro",
        "Differential privacy: the epsilon each hospital may spend over the whole study, "
        "in millionths (3000000 = epsilon 3). Agents spread it over the rounds.",
    ),
    ("delta_e12", "Differential privacy: delta times 10^12 (10000000 = 1e-5); at most 0.1."),
    ("rounds", "How many training rounds the study runs."),
    (
        "local_steps",
        "Audited studies: the exact number of DP-SGD steps each participant takes per round "
        "(the proofs cover them); unaudited studies record it only.",
    ),
    (
        "audit_rate_ppm",
        "Share of each participant's steps the ledger challenges for a zk proof, in millionths "
        "(0: unaudited). Audits need a binary label and a step circuit for the model.",
    ),
    ("committee_size", "How many hospitals the ledger draws each round to aggregate."),
    (
        "committee_threshold",
        "How many committee members must agree on (and, in secure mode, can unmask) the aggregate.",
    ),
    ("participants_per_round", "How many enrolled hospitals the ledger draws to train each round."),
    ("min_participants", "The fewest committed updates a round may finalize with."),
    (
        "min_stake",
        "Tokens each selected hospital must have staked; locked for the round, released when it "
        "ends (minus any slash).",
    ),
    ("reward_pool", "Tokens the proposer escrows for rewards; at least reward_per_round * rounds."),
    ("reward_per_round", "Tokens shared each round among hospitals whose updates were included."),
    (
        "missing_slash",
        "Tokens taken from a selected hospital that does not commit or serve the committee in "
        "time (at most min_stake).",
    ),
    ("cheat_slash", "Tokens taken from a hospital whose audited step fails its proof (at most min_stake)."),
    ("commit_window_s", "Seconds participants have to train and commit after a round opens."),
    ("prove_window_s", "Seconds audited participants have to submit their proofs."),
    ("aggregate_window_s", "Seconds the committee has to publish the aggregate."),
    ("validation_window_s", "Seconds every enrolled hospital has to validate the new model on its own data."),
    (
        "aggregation",
        "secure: masked updates, secrets shared to the committee (no member sees an update); "
        "trusted: the committee's first member decrypts every update.",
    ),
    ("keys_window_s", "Secure aggregation: seconds participants have to publish their round keys."),
    (
        "zk_circuit",
        "Audited and bound studies: the model's step circuit (logreg-d<D>-b<B> or mlp-d<D>-h<H>-b<B>); '' otherwise.",
    ),
    ("zk_vk_hash", "Audited studies: SHA-256 of the circuit's verifying key registered on the ledger."),
    (
        "model_commitment",
        "Audited and bound studies: Poseidon2 commitment of the initial weights on the circuit's grid.",
    ),
    ("learning_rate_ppm", "Audited studies: the SGD learning rate every proven step uses, in millionths."),
    ("clip_ppm", "Audited studies: the per-example gradient clipping norm, in millionths."),
    ("expected_batch", "Audited studies: the expected Poisson batch size (at most the circuit's capacity)."),
    (
        "bind_vk_hash",
        "Secure studies with bound inputs: SHA-256 of the binding circuit's (bind-w<weights>) "
        "verifying key; '' for no binding.",
    ),
    (
        "update_norm_micro",
        "Bound inputs: the largest L2 norm of a hospital's update (final minus start weights), in millionths.",
    ),
    (
        "prox_mu_ppm",
        "FedProx: the proximal term's mu in millionths (10000 = 0.01); keeps a hospital with skewed data "
        "near the round's model. 0: plain local SGD. Unaudited studies only.",
    ),
    (
        "server_optimizer",
        "How the mean update becomes the next model: fedavg (w + server_lr * mean) or fedavgm (adds "
        "server_momentum * the previous model step).",
    ),
    ("server_lr_ppm", "The server step's learning rate in millionths (1000000 = 1: plain FedAvg)."),
    ("server_momentum_ppm", "fedavgm: the server momentum in millionths (e.g. 500000 = 0.5); 0 for fedavg."),
)
DOCS = dict(FIELDS)


class StudyFileError(ValueError):
    """The study file cannot be read as a mapping of study parameters."""


def load(path: Path) -> dict[str, Any]:
    """The study parameters in ``path`` (YAML or JSON; comments allowed in YAML)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise StudyFileError(f"{path} is {size} bytes; a study file is at most {MAX_BYTES}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyFileError(f"cannot read {path}: {exc}") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise StudyFileError(f"{path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                             f"{str(exc).splitlines()[0]}") from None  # fmt: skip
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise StudyFileError(f"{path}: a study file is a mapping of field names to values")
    return raw


def dump(params: dict[str, Any], header: list[str] | None = None) -> str:
    """``params`` as YAML, each field under a comment saying what it means."""
    lines = [f"# {h}" if h else "#" for h in header or []]
    for name, doc in FIELDS:
        if name not in params:
            continue
        lines += ["", *(f"# {line}" for line in textwrap.wrap(doc, 96)), f"{name}: {json.dumps(params[name])}"]
    extra = sorted(set(params) - set(DOCS))
    for name in extra:
        lines += ["", f"{name}: {json.dumps(params[name])}"]
    return "\n".join(lines) + "\n"


def help_text() -> str:
    """Every field and its meaning, one paragraph each, for ``--help`` epilogs."""
    return "\n\n".join(f"{name}: {doc}" for name, doc in FIELDS)
