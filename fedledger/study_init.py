"""`fedledger study init`: a complete, commented study file from a schema and a few choices."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from agent import study_file
from agent.daemon.config import AgentConfig
from agent.data.schema import Schema
from agent.models import ModelSpec
from agent.study_init import StudyChoices, StudyInitError, init_study
from clients.fabric import GatewayError
from clients.kubo import IPFSError
from fedledger.output_path import OutputPath

console = Console()


@click.command("init", epilog="Fields of the study file it writes:\n\n" + study_file.help_text())
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The proposing hospital's agent.yaml: its schema, IPFS node, keys and gateway.")  # fmt: skip
@click.option("--study", "study_id", required=True, help="Study id: 3-40 lowercase letters, digits and '-'.")
@click.option("--title", default="", help="What the study is about [default: the study id].")
@click.option(
    "--model",
    type=click.Choice(["logreg", "mlp", "cnn"]),
    default="logreg",
    show_default=True,
    help="logreg: logistic (binary) or softmax (multi-class) regression; mlp: one hidden ReLU layer; cnn: two "
    "convolution blocks on the schema's image ('image': [height, width] in schema.json).",
)
@click.option("--hidden", type=click.IntRange(1, 1024), default=16, show_default=True, help="mlp: hidden units.")
@click.option("--filters", type=(click.IntRange(1, 64), click.IntRange(1, 64)), default=(8, 16), show_default=True,
              help="cnn: the two convolutions' filter counts.")  # fmt: skip
@click.option("--server-optimizer", type=click.Choice(["fedavg", "fedavgm"]), default="fedavg", show_default=True,
              help="How the mean update becomes the next model (fedavgm: with server momentum).")  # fmt: skip
@click.option("--server-lr", type=click.FloatRange(0, 10, min_open=True), default=1.0, show_default=True,
              help="The server step's learning rate (1: plain FedAvg).")  # fmt: skip
@click.option("--server-momentum", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="fedavgm: the server momentum (e.g. 0.5).")  # fmt: skip
@click.option("--prox-mu", type=click.FloatRange(0, 100), default=0.0, show_default=True,
              help="FedProx's mu for local training (0: plain SGD; unaudited studies only).")  # fmt: skip
@click.option("--rounds", type=click.IntRange(1, 1000), default=3, show_default=True)
@click.option("--epsilon-budget", type=click.FloatRange(0.000001, 100), default=3.0, show_default=True,
              help="DP epsilon each hospital may spend over the whole study.")  # fmt: skip
@click.option("--delta", type=click.FloatRange(1e-12, 0.1), default=1e-5, show_default=True, help="DP delta.")
@click.option(
    "--aggregation",
    type=click.Choice(["secure", "trusted"]),
    default="secure",
    show_default=True,
    help="secure: masked updates, no committee member sees one; trusted: one aggregator sees all.",
)
@click.option("--committee", type=click.IntRange(0, 32), default=0,
              help="Committee size [default: 3 (or every hospital if fewer) secure, 1 trusted].")  # fmt: skip
@click.option("--threshold", type=click.IntRange(0, 32), default=0,
              help="Members that must agree [default: 2 secure, 1 trusted].")  # fmt: skip
@click.option("--participants", type=click.IntRange(0, 1000), default=0,
              help="Hospitals drawn to train each round [default: every registered hospital].")  # fmt: skip
@click.option("--min-participants", type=click.IntRange(0, 1000), default=0,
              help="Fewest updates a round may finalize with [default: --participants].")  # fmt: skip
@click.option("--local-steps", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--audit-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of training steps challenged for a zk proof (needs a binary label, a model with a step "
                   "circuit and --zk-key).")  # fmt: skip
@click.option("--zk-key", default="", help="Audited studies: SHA-256 of the circuit's registered verifying key.")
@click.option("--bind-key", default="",
              help="Secure studies: bind every masked input to its hospital's committed update with this binding "
                   "circuit's registered verifying key (`fedledger zk ceremony --model M --binding`).")  # fmt: skip
@click.option("--update-norm", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="With --bind-key: the largest L2 norm of an update (final minus start weights).")  # fmt: skip
@click.option(
    "--stake",
    "min_stake",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="Stake each selected hospital locks per round (slashes: half for missing, all for cheating).",
)
@click.option("--reward-per-round", type=click.IntRange(0), default=300, show_default=True,
              help="Tokens shared per round; the proposer escrows rounds times this.")  # fmt: skip
@click.option("--window", "window_s", type=click.IntRange(1, 30 * 86_400), default=600, show_default=True,
              help="Seconds for each phase of a round (commit, prove, aggregate, validate).")  # fmt: skip
@click.option("--out", type=OutputPath(), default=None,
              help="Study file to write [default: <study>.yaml].")  # fmt: skip
def init_cmd(config_path: Path, study_id: str, title: str, model: str, hidden: int, filters: tuple[int, int],
             server_optimizer: str, server_lr: float, server_momentum: float, prox_mu: float, rounds: int,
             epsilon_budget: float, delta: float, aggregation: str, committee: int, threshold: int, participants: int,
             min_participants: int, local_steps: int, audit_rate: float, zk_key: str, bind_key: str,
             update_norm: float, min_stake: int, reward_per_round: int, window_s: int,
             out: Path | None) -> None:  # fmt: skip
    """Derive the model from the schema (one input per feature, one output per label class),
    build and publish the initial model encrypted to every registered hospital, compute every
    hash and write a complete, commented study file for `fedledger study propose`."""
    from agent.session import hospital_session

    cfg = AgentConfig.load(config_path)
    schema = Schema.load(cfg.schema)
    choices = StudyChoices(study_id=study_id, title=title or study_id, model=model, hidden=hidden, rounds=rounds,
                           epsilon_budget=epsilon_budget, delta=delta, aggregation=aggregation, committee=committee,
                           threshold=threshold, participants=participants, min_participants=min_participants,
                           local_steps=local_steps, audit_rate=audit_rate, zk_key=zk_key, bind_key=bind_key,
                           update_norm=update_norm, min_stake=min_stake, reward_per_round=reward_per_round,
                           window_s=window_s, filters=filters, server_optimizer=server_optimizer,
                           server_lr=server_lr, server_momentum=server_momentum, prox_mu=prox_mu)  # fmt: skip
    try:
        with hospital_session(cfg) as session:
            has_pk = bool(zk_key) and (cfg.keys_dir / "zk" / f"{zk_key}.pk").exists()
            has_bind = bool(bind_key) and (cfg.keys_dir / "zk" / f"{bind_key}.pk").exists()
            params = init_study(choices, schema, session.hospital(), session.ledger, has_pk, has_bind)
    except StudyInitError as exc:
        raise click.ClickException(str(exc)) from None
    except (GatewayError, IPFSError, OSError) as exc:
        raise click.ClickException(f"could not reach the ledger or IPFS from {config_path}: {exc}") from None
    spec = ModelSpec.parse(params["model"])
    path = out or Path(f"{study_id}.yaml")
    header = [f"Study file for `fedledger study propose --file {path.name}`, written by `fedledger study init`.",
              f"Schema: {cfg.schema} ({len(schema.features)} features, {schema.classes} label classes), "
              f"hash {schema.hash}.",
              "Every hospital that enrolls needs that schema.json unchanged; the ledger fixes every field below "
              "when the study is proposed."]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(study_file.dump(params, header))
    console.print(f"model {spec.name} ({spec.parameter_count()} parameters); initial model {params['model_cid']} "
                  "on IPFS, encrypted to every registered hospital")  # fmt: skip
    console.print(f"wrote {path}; next: `fedledger study propose --org {cfg.org} --file {path}`")
