"""Trusted-aggregator mode: the round's committee of one, selected by the chaincode, opens
every included update in the clear and averages them.

* ``store_update``: the update (encoded with the agent's codec; never lossy in an audited
  study) in an envelope only the aggregator can open.
* ``aggregate``: open every included participant's update and check it against the hash
  committed on the ledger (a swapped, tampered or malformed update is left out and reported,
  never averaged in; in an audited study it must also lead exactly to the final weights the
  participant committed), FedAvg the rest weighted by committed sample counts, and publish
  the new global model for every hospital.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.aggregation import TrustedAggregatorFedAvg, Update, UpdateRejected, check_update
from agent.federation import Hospital, fetch_model, publish_model, server_step, share_keys, with_commitment
from agent.models import ModelSpec
from agent.rounds.mode import Aggregate, StoredUpdate
from agent.storage.envelope import open_envelope, publish
from agent.storage.vault import ArtifactError
from agent.training import RoundResult
from agent.update_codec import UpdateFormatError, decode_update, encode_update
from agent.zk.participant import update_matches
from clients.kubo import IPFSError


@dataclass(frozen=True)
class TrustedMode:
    codec: str = "none"  # none or int8 (agent/update_codec.py)
    name: str = "trusted"

    def store_update(self, h: Hospital, rnd: dict[str, Any], result: RoundResult) -> StoredUpdate:
        data = encode_update(result.update, self.codec)
        aggregator = rnd["committee"][0]
        label = f"{rnd['study_id']}/{rnd['round']}/update/{h.msp_id}"
        envelope = publish(h.vault, data, label, share_keys(h.registry, [aggregator]))
        return StoredUpdate(envelope, hashlib.sha256(data).hexdigest(), len(data), self.codec)

    def aggregate(self, h: Hospital, rnd: dict[str, Any], spec: ModelSpec, recipients: list[str],
                  circuit: str | None = None) -> Aggregate:  # fmt: skip
        global_in = fetch_model(h, rnd["model_in"], spec)
        updates, excluded = collect_updates(h, rnd, spec, global_in, circuit)
        server, previous = server_step(h, rnd, spec)
        new = TrustedAggregatorFedAvg(server=server).aggregate(global_in, updates, previous)
        label = f"{rnd['study_id']}/{rnd['round']}/global"
        model = publish_model(h, new, label, share_keys(h.registry, recipients))
        return Aggregate(with_commitment(model, new, circuit), excluded)

    def account(self) -> str:
        return "trusted-aggregator mode"


def collect_updates(h: Hospital, rnd: dict[str, Any], spec: ModelSpec, global_in: np.ndarray | None = None,
                    circuit: str | None = None) -> tuple[list[Update], list[dict[str, str]]]:  # fmt: skip
    """As the aggregator: open every included participant's update and check it against the
    hash it committed. An update that cannot be fetched or opened, does not match its hash, or
    is malformed is left out with its reason (to be recorded on the ledger), never averaged in.
    In an audited study (``circuit``) the update must also lead from ``global_in`` exactly to
    the final weights the participant committed (whose steps were audited)."""
    if rnd["committee"][0] != h.msp_id:
        raise PermissionError(f"{h.msp_id} is not this round's aggregator")
    dim = spec.parameter_count()
    updates, excluded = [], []
    for m in rnd["inclusion"]:
        commitment = rnd["commitments"][m]
        try:
            data = open_envelope(h.ipfs, commitment["share_cids"][0], h.msp_id, h.share_key)
            if hashlib.sha256(data).hexdigest() != commitment["update_hash"]:
                raise UpdateRejected("the update on IPFS does not match the hash it committed")
            update = Update(m, decode_update(data, dim), commitment["consented_records"] or 1)
            check_update(update, dim)
            if circuit is not None and global_in is not None:
                if not update_matches(circuit, global_in, update.delta, commitment["final_commitment"]):
                    raise UpdateRejected("the update does not lead to the final weights it committed (and audited)")
        except (ArtifactError, UpdateRejected, UpdateFormatError, IPFSError, IndexError, KeyError, TypeError,
                ValueError, AttributeError) as exc:  # fmt: skip
            # a participant's own bytes must never stop the aggregate: anything unreadable excludes it
            excluded.append({"msp_id": m, "reason": exclusion_reason(exc)})
            continue
        updates.append(update)
    return updates, excluded


def exclusion_reason(exc: BaseException) -> str:
    """A reason the ledger accepts whatever the participant put in its envelope: the message may
    echo attacker-chosen text (labels, key ids), so it is reduced to printable ASCII and capped."""
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, (UpdateRejected, ArtifactError)) else str(exc)
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text).strip()
    return (cleaned or type(exc).__name__)[:300]
