"""`fedledger model evaluate`: a study's model scored on a hospital's own data.

The hospital fetches the global model of a finalized round (the last one by default) from
IPFS, opens it with its own share key, checks it against the hash on the ledger, and scores
it on a data file of its choosing (e.g. a held-out test set) with the schema the study fixed:
accuracy, F1 and AUROC, as the demo reports them (macro averages for more than two classes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from agent.daemon.config import AgentConfig
from agent.data.schema import Schema, load_records
from agent.storage.vault import ArtifactError
from agent.study_fit import model_fit
from clients.fabric import GatewayError
from clients.kubo import IPFSError
from clients.ledger import LedgerClient, Round, Study

console = Console()


class EvaluationError(ValueError):
    """The model cannot be evaluated (the message says why)."""


def finalized_round(ledger: LedgerClient, study: dict[str, Any], wanted: int | None) -> dict[str, Any]:
    """Round ``wanted``, or the study's last finalized round; it must hold a global model."""
    sid = study["study_id"]
    if wanted is not None:
        if not 0 <= wanted <= study["current_round"]:
            raise EvaluationError(f"study {sid} has rounds 0..{study['current_round']}; there is no round {wanted}")
        rnd = ledger.evaluate(Round.get(sid, wanted))
        if rnd["state"] != "FINALIZED":
            raise EvaluationError(f"round {wanted} of {sid} is {rnd['state']}: it produced no global model")
        return rnd
    for n in range(study["current_round"], -1, -1):
        rnd = ledger.evaluate(Round.get(sid, n))
        if rnd["state"] == "FINALIZED":
            return rnd
    raise EvaluationError(f"study {sid} has no finalized round yet")


@click.group("model")
def model_group() -> None:
    """A study's global models, on this hospital's own data."""


@model_group.command("evaluate")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your agent's agent.yaml (identity, IPFS node, share key and schema).")  # fmt: skip
@click.option("--study", "study_id", required=True)
@click.option("--round", "round_no", type=int, default=None, help="A finalized round [default: the last one].")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Records to score (CSV or Parquet with the schema's columns), e.g. your held-out test set.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def evaluate_cmd(config_path: Path, study_id: str, round_no: int | None, data_path: Path, as_json: bool) -> None:
    """Score a study's global model on your own records: accuracy, F1, AUROC and log loss (mean
    cross-entropy, lower is better: it still separates models when accuracy saturates)."""
    from agent.federation import fetch_model
    from agent.session import hospital_session
    from agent.training import evaluate

    cfg = AgentConfig.load(config_path)
    schema = Schema.load(cfg.schema)
    records = load_records(data_path, schema)
    try:
        with hospital_session(cfg) as session:
            study = session.ledger.evaluate(Study.get(study_id))
            fit = model_fit(study["params"], schema)
            if fit.spec is None or not fit.ok:
                raise EvaluationError("; ".join(fit.problems))
            rnd = finalized_round(session.ledger, study, round_no)
            weights = fetch_model(session.hospital(), rnd["aggregate"], fit.spec)
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from None
    except (GatewayError, IPFSError, ArtifactError, OSError) as exc:
        raise click.ClickException(f"could not fetch the model: {exc}") from None
    metrics = evaluate(fit.spec, weights, records)
    out = {"study_id": study_id, "round": rnd["round"], "model": fit.spec.name, "model_hash": rnd["aggregate"]["hash"],
           "data": str(data_path), "records": len(records), **metrics}  # fmt: skip
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    table = Table(title=f"{study_id}, round {rnd['round']} global model ({fit.spec.name}) on {data_path.name}")
    for col in ("records", "accuracy", "F1" if fit.spec.binary else "F1 (macro)", "AUROC" if fit.spec.binary
                else "AUROC (one-vs-rest, macro)", "log loss"):  # fmt: skip
        table.add_column(col)
    table.add_row(str(len(records)), *(f"{metrics[k]:.3f}" for k in ("accuracy", "f1", "auroc")),
                  f"{metrics['log_loss']:.4f}")  # fmt: skip
    console.print(table)
    console.print(f"model hash {rnd['aggregate']['hash'][:16]}... (checked against the ledger)")
