"""The hospital agent's configuration file (agent.yaml).

Everything an agent needs to act for its hospital, and nothing it would have to discover:
its gateway peer and signing identity, its Kubo API, its key store, its data and schema,
its local state directory, and the training hyper-parameters it is willing to use. Paths are
resolved relative to the config file, so a hospital can keep the whole folder together.

``fedledger agent config --org HospitalA`` writes one for an org of the local network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.privacy import Release
from agent.training import DPConfig


class ConfigError(ValueError):
    """The agent configuration is missing something or holds a bad value."""


@dataclass(frozen=True)
class TrainingConfig:
    """Local DP-SGD settings; epsilon per round comes from the study, never from here."""

    epochs: int = 5
    learning_rate: float = 0.5
    max_grad_norm: float = 1.0
    batch_size: int = 32
    clipping: str = "flat"  # flat | per_layer | adaptive (agent/clipping.py)
    threads: int = 0  # torch CPU threads; 0 = torch's default (every core)

    def dp(self, epsilon: float, delta: float, prox_mu: float = 0.0, rounds: int = 1,
           history: tuple[Release, ...] = ()) -> DPConfig:  # fmt: skip
        """The round's plan: ``epsilon`` for ``history``, this round and ``rounds - 1`` more."""
        return DPConfig(epsilon=epsilon, delta=delta, max_grad_norm=self.max_grad_norm, epochs=self.epochs,
                        batch_size=self.batch_size, learning_rate=self.learning_rate, clipping=self.clipping,
                        prox_mu=prox_mu, rounds=rounds, history=history)  # fmt: skip


@dataclass(frozen=True)
class AgentConfig:
    org: str
    msp_id: str
    gateway_address: str
    tls_ca: Path
    msp_dir: Path
    ipfs_api: str
    keys_dir: Path
    state_dir: Path
    schema: Path
    train: Path
    validation: Path
    channel: str = "fedledger"
    chaincode: str = "fedledger"
    studies: tuple[str, ...] = ()  # empty: every active study this org is enrolled in
    training: TrainingConfig = field(default_factory=TrainingConfig)
    compression: str = "none"  # "none" | "int8"
    # "ledger": train only on records whose patient holds a valid consent on the ledger for the
    # study at the round's start (agent/consent/gate.py); "none": every record (no consent check)
    consent: str = "ledger"
    links: Path | None = None  # CSV pseudonym,did: the hospital's link from record to patient DID

    @property
    def share_key_path(self) -> Path:
        return self.keys_dir / "share_x25519.pem"

    @property
    def artifact_keys_dir(self) -> Path:
        return self.keys_dir / "artifacts"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "agent.sqlite"

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read agent config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        return cls.from_dict(raw, base=path.parent)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path) -> AgentConfig:
        def need(section: dict[str, Any], key: str, where: str) -> Any:
            if key not in section or section[key] in (None, ""):
                raise ConfigError(f"agent config: '{where}{key}' is required")
            return section[key]

        def path(section: dict[str, Any], key: str, where: str) -> Path:
            p = Path(str(need(section, key, where))).expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        gateway = _section(raw, "gateway")
        data = _section(raw, "data")
        training_raw = raw.get("training") or {}
        if not isinstance(training_raw, dict):
            raise ConfigError("agent config: 'training' must be a mapping")
        unknown = set(training_raw) - set(TrainingConfig.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"agent config: unknown training settings {sorted(unknown)}")
        try:
            training = TrainingConfig(**training_raw)
            training.dp(1.0, 1e-5)  # validates the ranges
            if not 0 <= training.threads <= 256:
                raise ValueError("threads must be between 0 and 256")
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"agent config: bad training settings: {exc}") from None
        compression = str(raw.get("compression", "none"))
        if compression not in ("none", "int8"):
            raise ConfigError("agent config: 'compression' must be 'none' or 'int8'")
        consent = str(raw.get("consent", "ledger"))
        if consent not in ("ledger", "none"):
            raise ConfigError("agent config: 'consent' must be 'ledger' or 'none'")
        studies = raw.get("studies") or []
        if not isinstance(studies, list) or not all(isinstance(s, str) for s in studies):
            raise ConfigError("agent config: 'studies' must be a list of study ids")
        return cls(
            org=str(need(raw, "org", "")),
            msp_id=str(need(raw, "msp_id", "")),
            gateway_address=str(need(gateway, "address", "gateway.")),
            tls_ca=path(gateway, "tls_ca", "gateway."),
            msp_dir=path(gateway, "msp_dir", "gateway."),
            channel=str(gateway.get("channel", "fedledger")),
            chaincode=str(gateway.get("chaincode", "fedledger")),
            ipfs_api=str(need(raw, "ipfs_api", "")),
            keys_dir=path(raw, "keys_dir", ""),
            state_dir=path(raw, "state_dir", ""),
            schema=path(data, "schema", "data."),
            train=path(data, "train", "data."),
            validation=path(data, "validation", "data."),
            studies=tuple(studies),
            training=training,
            compression=compression,
            consent=consent,
            links=path(data, "links", "data.") if data.get("links") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "msp_id": self.msp_id,
            "gateway": {
                "address": self.gateway_address,
                "tls_ca": str(self.tls_ca),
                "msp_dir": str(self.msp_dir),
                "channel": self.channel,
                "chaincode": self.chaincode,
            },
            "ipfs_api": self.ipfs_api,
            "keys_dir": str(self.keys_dir),
            "state_dir": str(self.state_dir),
            "data": {
                "schema": str(self.schema),
                "train": str(self.train),
                "validation": str(self.validation),
                **({"links": str(self.links)} if self.links else {}),
            },
            "studies": list(self.studies),
            "training": dict(self.training.__dict__),
            "compression": self.compression,
            "consent": self.consent,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"agent config: '{key}' must be a mapping")
    return value
