"""What each ``Round:*`` transaction takes: its argument schema, with the field kinds only rounds
use (share CIDs, exclusions, opened step leaves, proofs). A malformed call is refused here, with
the field named, before the contract reads anything."""

from __future__ import annotations

from typing import Any

from chaincode.contracts import binding, selection
from chaincode.contracts import secure_aggregation as secagg
from chaincode.contracts.registry import MSP_ID
from chaincode.contracts.studies import CID, HEX64, STUDY_ID
from chaincode.runtime.errors import InvalidArgument
from chaincode.runtime.schema import Field, Int, Schema, Str

MAX_SHARES = 64
MAX_EXCLUSIONS = 64
MAX_AUDITED = 64


class CidList(Field):
    """A list of IPFS CIDs (the encrypted update shares)."""

    def check(self, name: str, value: Any) -> list[str]:
        if not isinstance(value, list) or len(value) > MAX_SHARES:
            raise InvalidArgument(f"{name} must be a list of at most {MAX_SHARES} CIDs")
        cid = Str(max_len=130, pattern=CID)
        return [cid.check(f"{name}[{i}]", v) for i, v in enumerate(value)]


class ExclusionList(Field):
    """Participants whose update the aggregator left out, each with its reason."""

    def check(self, name: str, value: Any) -> list[dict[str, str]]:
        if not isinstance(value, list) or len(value) > MAX_EXCLUSIONS:
            raise InvalidArgument(f"{name} must be a list of at most {MAX_EXCLUSIONS} exclusions")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"msp_id", "reason"}:
                raise InvalidArgument(f"{name}[{i}] must be {{'msp_id': ..., 'reason': ...}}")
            out.append({"msp_id": Str(max_len=64, pattern=MSP_ID).check(f"{name}[{i}].msp_id", item["msp_id"]),
                        "reason": Str(max_len=300).check(f"{name}[{i}].reason", item["reason"])})  # fmt: skip
        return out


class Openings(Field):
    """Opened step leaves: [{index, w_before, batch, w_after, path: [[side, hex64], ...]}]."""

    def check(self, name: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not 1 <= len(value) <= 2 * MAX_AUDITED:
            raise InvalidArgument(f"{name} must list 1..{2 * MAX_AUDITED} opened leaves")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"index", "w_before", "batch", "w_after", "path"}:
                raise InvalidArgument(f"{name}[{i}] must have index, w_before, batch, w_after and path")
            path = item["path"]
            if not isinstance(path, list) or len(path) > 40:
                raise InvalidArgument(f"{name}[{i}].path must be a list of at most 40 [side, hash] pairs")
            for j, step in enumerate(path):
                if not (isinstance(step, list) and len(step) == 2 and step[0] in ("left", "right")):
                    raise InvalidArgument(f"{name}[{i}].path[{j}] must be ['left'|'right', sha256 hex]")
                Str(pattern=HEX64).check(f"{name}[{i}].path[{j}]", step[1])
            out.append({"index": Int(0, 99_999).check(f"{name}[{i}].index", item["index"]),
                        **{k: Str(pattern=HEX64).check(f"{name}[{i}].{k}", item[k]) for k in ("w_before", "batch",
                                                                                            "w_after")},
                        "path": path})  # fmt: skip
        return out


class Proofs(Field):
    """Groth16 proofs of audited steps: [{index, proof (base64)}]."""

    def check(self, name: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_AUDITED:
            raise InvalidArgument(f"{name} must list 1..{MAX_AUDITED} proofs")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"index", "proof"}:
                raise InvalidArgument(f"{name}[{i}] must be {{'index': ..., 'proof': ...}}")
            out.append({"index": Int(0, 99_999).check(f"{name}[{i}].index", item["index"]),
                        "proof": Str(max_len=1024, pattern=r"[A-Za-z0-9+/=]+").check(f"{name}[{i}].proof",
                                                                                    item["proof"])})  # fmt: skip
        return out


REF = {"study_id": Str(pattern=STUDY_ID), "round": Int(0, 999)}
OPEN = Schema({"study_id": Str(pattern=STUDY_ID)})
COMMIT = Schema(
    {
        **REF,
        "update_hash": Str(pattern=HEX64),
        "step_root": Str(pattern=HEX64),
        "sample_bucket": Int(0, selection.MAX_BUCKET),
        "epsilon_micro": Int(1, 100_000_000),
        "share_cids": CidList(required=False, default=[]),
        "consented_records": Int(0, 10**9, required=False, default=None),
        # SHA-256 of the sorted consent ids the round's records rest on (consent-gated studies)
        "consent_digest": Str(pattern=HEX64, required=False, default=None),
        # audited studies: the number of steps (= the study's local_steps), the commitment of
        # the final weights (the last leaf's w_after) and the noise multiplier in millionths
        "step_count": Int(1, 100_000, required=False, default=None),
        "final_commitment": Str(pattern=HEX64, required=False, default=None),
        "noise_multiplier_micro": Int(1, 10**9, required=False, default=None),
        # bound secure rounds: the Poseidon2 commitment to the two blinding elements of the
        # masked input (chaincode/contracts/binding.py)
        "bind_commitment": Str(pattern=HEX64, required=False, default=None),
    }
)
PROOF = Schema({**REF, "openings": Openings(), "proofs": Proofs()})
BINDING = Schema(
    {
        **REF,
        "value": binding.Element(),
        "pair_values": binding.ElementMap(),
        "proof": Str(max_len=1024, pattern=r"[A-Za-z0-9+/=]+"),
    }
)
AGGREGATE = Schema(
    {
        **REF,
        # absent only in a bound round whose check this member found failing (nothing to publish)
        "model_cid": Str(max_len=130, pattern=CID, required=False, default=None),
        "model_hash": Str(pattern=HEX64, required=False, default=None),
        "excluded": ExclusionList(required=False, default=[]),
        # audited studies: the Poseidon2 commitment of the new weights (next round's step 0 starts there)
        "model_commitment": Str(pattern=HEX64, required=False, default=None),
        # bound secure rounds: per included participant, its unmasked input's value at the round's
        # point; per disputed pair, the value of the pair's mask there (chaincode/contracts/binding.py)
        "evaluations": binding.ElementMap(required=False, default=None),
        "pair_truths": binding.ElementMap(pairs=True, required=False, default=None),
    }
)
VALIDATION = Schema({**REF, "metric_ppm": Int(0, 1_000_000), "previous_metric_ppm": Int(0, 1_000_000)})
ROUND_REF = Schema(REF)
KEYS = Schema({**REF, **secagg.KEYS_FIELDS})
SHARES = Schema({**REF, "shares": secagg.ShareMap(), "complaints": ExclusionList(required=False, default=[])})
REPUTATION = Schema({"msp_id": Str(max_len=64)})
BUDGET = Schema({"study_id": Str(pattern=STUDY_ID), "msp_id": Str(max_len=64)})
