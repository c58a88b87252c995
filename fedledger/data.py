"""`fedledger data ...`: a hospital checks its data files before it takes part in a study."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from agent.daemon.config import AgentConfig
from agent.data.check import Problem, check_files, without_path
from agent.data.schema import DataError, Schema
from demo import example_data
from fedledger.output_path import OutputPath

console = Console()


def data_problems(cfg: AgentConfig) -> tuple[list[Problem], dict[str, int]]:
    """Every problem of the agent's schema and data files, and the records each good file holds."""
    try:
        schema = Schema.load(cfg.schema)
    except DataError as exc:
        return [Problem(cfg.schema, without_path(cfg.schema, str(exc)))], {}
    return check_files(schema, (cfg.train, cfg.validation))


def report(cfg: AgentConfig) -> bool:
    """Print the check's outcome; True when the data is fit to train on."""
    problems, counts = data_problems(cfg)
    if problems:
        console.print(f"[red]{len(problems)} problem(s) in {cfg.org}'s data[/red] (schema {cfg.schema}):")
        for p in problems:
            console.print(f"  - {p}")
        return False
    files = ", ".join(f"{name}: {n} records" for name, n in counts.items())
    console.print(f"{cfg.org}'s data matches its schema ({files})")
    return True


@click.group("data")
def data_group() -> None:
    """A hospital's own data: check it against its schema before taking part in a study."""


@data_group.command("check")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The agent's agent.yaml (its data section names the schema and the files).")  # fmt: skip
@click.option("--study", "study_id", default=None,
              help="Also check against this study on the ledger: its schema hash and model, and consents.")  # fmt: skip
def check_cmd(config_path: Path, study_id: str | None) -> None:
    """List every problem of the training and validation files at once (with CSV line numbers:
    line 1 is the header), and with --study every reason the hospital could not take part in
    that study (what `study enroll` refuses on); exit status 1 when there is any."""
    cfg = AgentConfig.load(config_path)
    if not report(cfg):
        raise SystemExit(1)
    if study_id:
        from agent.study_fit import fit_on_ledger

        fit = fit_on_ledger(cfg, study_id)
        if not fit.ok:
            console.print(f"[red]{cfg.org} cannot take part in {study_id}[/red] ({len(fit.problems)} problem(s)):")
            for problem in fit.problems:
                console.print(f"  - {problem}")
            raise SystemExit(1)
        console.print(f"{cfg.org} can take part in {study_id} (model {fit.spec.name if fit.spec else '?'})")


@data_group.command("schema-hash")
@click.argument("schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def schema_hash_cmd(schema_path: Path) -> None:
    """Print a schema.json's data_schema_hash: SHA-256 of its canonical JSON (sorted keys, no
    spaces, defaults left out), not of the file's bytes."""
    click.echo(Schema.load(schema_path).hash)


@data_group.command("fit-scaler")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The agent's agent.yaml: the scaler is fitted on its training file.")  # fmt: skip
def fit_scaler_cmd(config_path: Path) -> None:
    """Add a standardisation scaler (each feature's mean and standard deviation over your
    training records) to your schema.json, for a study to fix. Every member will see these
    per-feature statistics of your records; the schema's hash changes."""
    from agent.data.schema import fit_scaler, load_records

    cfg = AgentConfig.load(config_path)
    schema = Schema.load(cfg.schema)
    raw = Schema(schema.features, schema.label, schema.pseudonym, schema.classes, image=schema.image)
    fitted = fit_scaler(raw, load_records(cfg.train, raw))
    fitted.write(cfg.schema)
    console.print(f"wrote the scaler into {cfg.schema} (fitted on {cfg.train.name}); data_schema_hash {fitted.hash}")


@data_group.command("example")
@click.option("--dataset", type=click.Choice(["diabetes", "wine"]), default="diabetes", show_default=True,
              help="diabetes: 10 clinical features, binary label; wine: 13 features, 3 classes.")  # fmt: skip
@click.option("--out", type=OutputPath(file_okay=False, dir_okay=True), required=True,
              help="Folder to write hospitala/, hospitalb/, hospitalc/ and test.csv into.")  # fmt: skip
@click.option("--flaws", is_flag=True, help="Give HospitalC's training export a blank and two non-numeric values.")
def example_cmd(dataset: str, out: Path, flaws: bool) -> None:
    """Write three hospitals' data folders and a held-out test set from a data set shipped with
    scikit-learn, to try a study on data the demo does not use."""
    folders = example_data.write(dataset, out, flaws)
    for name, folder in folders.items():
        counts = {f: (folder / f).read_text().count("\n") - 1 for f in ("train.csv", "validation.csv")}
        click.echo(f"{name}: {folder} ({counts['train.csv']} training, {counts['validation.csv']} validation records)")
    click.echo(f"held-out test set: {out / 'test.csv'}")
