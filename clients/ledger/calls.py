"""Every transaction of the fedledger chaincode, by name and argument shape.

A :class:`Call` is one invocation, not yet sent: ``Contract:Function`` and its JSON argument
object (plus, for the few transactions that take private data, the transient map). One class
per contract builds them from typed parameters, so a contract's function names and argument
keys are written here once, and a caller reads as the domain does::

    ledger.evaluate(Round.get(study_id, 0))
    ledger.submit(Study.enroll(study_id))

Builders decide nothing: the chaincode checks every argument (chaincode/runtime/schema.py) and
refuses with the field named. Optional arguments left at None are not sent, so the chaincode's
default applies. tests/unit/test_ledger_calls.py checks each builder against the chaincode's
router and argument schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clients.ledger.shapes import (
    BindingArgs,
    Ceremony,
    CommitArgs,
    Exclusion,
    ProofArgs,
    PublishKeysArgs,
    SharesArgs,
    StudyParams,
)


@dataclass(frozen=True)
class Call:
    """One chaincode invocation: ``contract:function`` with its argument object.

    ``args`` None sends no argument object (the chaincode reads it as ``{}``); ``transient`` is
    private data that reaches the endorsing peers only, never the ledger.
    """

    contract: str
    function: str
    args: dict[str, Any] | None = None
    transient: Mapping[str, bytes] | None = None

    @property
    def name(self) -> str:
        """The invocation's first argument, e.g. ``Round:Commit``."""
        return f"{self.contract}:{self.function}"


def _present(**args: Any) -> dict[str, Any]:
    """The arguments that were given (None: left to the chaincode's default)."""
    return {k: v for k, v in args.items() if v is not None}


class Registry:
    """The consortium's hospital registry: display names, contacts, share and signing keys."""

    NAME = "Registry"

    @staticmethod
    def get(msp_id: str) -> Call:
        return Call(Registry.NAME, "Get", {"msp_id": msp_id})

    @staticmethod
    def list() -> Call:
        return Call(Registry.NAME, "List")

    @staticmethod
    def history(msp_id: str) -> Call:
        """Every committed version of an org's entry."""
        return Call(Registry.NAME, "History", {"msp_id": msp_id})

    @staticmethod
    def register(
        msp_id: str,
        display_name: str,
        share_key: str,
        contact: str,
        signing_key: str | None = None,
        ipfs_peer_id: str | None = None,
    ) -> Call:
        """A hospital's admin registers its own org (``share_key``: base64 X25519 public key)."""
        args = _present(msp_id=msp_id, display_name=display_name, share_key=share_key, contact=contact,
                        signing_key=signing_key, ipfs_peer_id=ipfs_peer_id)  # fmt: skip
        return Call(Registry.NAME, "Register", args)

    @staticmethod
    def update(
        msp_id: str,
        display_name: str,
        share_key: str,
        contact: str,
        signing_key: str | None = None,
        ipfs_peer_id: str | None = None,
    ) -> Call:
        """Replace an org's entry (the same fields as ``register``)."""
        args = _present(msp_id=msp_id, display_name=display_name, share_key=share_key, contact=contact,
                        signing_key=signing_key, ipfs_peer_id=ipfs_peer_id)  # fmt: skip
        return Call(Registry.NAME, "Update", args)


class Token:
    """Tokens: majority-approved mints, transfers, stake and slashes."""

    NAME = "Token"

    @staticmethod
    def account(msp_id: str) -> Call:
        """Free balance, stake and locked stake of an org."""
        return Call(Token.NAME, "Account", {"msp_id": msp_id})

    @staticmethod
    def supply() -> Call:
        """Minted tokens against every account and pool."""
        return Call(Token.NAME, "Supply")

    @staticmethod
    def slashes(msp_id: str | None = None) -> Call:
        return Call(Token.NAME, "Slashes", _present(msp_id=msp_id))

    @staticmethod
    def propose_mint(mint_id: str, to: str, amount: int) -> Call:
        """Propose minting ``amount`` to a registered hospital; the proposer approves it."""
        return Call(Token.NAME, "ProposeMint", {"mint_id": mint_id, "to": to, "amount": amount})

    @staticmethod
    def approve_mint(mint_id: str) -> Call:
        """Approve a proposed mint; it executes once a majority of registered hospitals approved."""
        return Call(Token.NAME, "ApproveMint", {"mint_id": mint_id})

    @staticmethod
    def transfer(to: str, amount: int) -> Call:
        return Call(Token.NAME, "Transfer", {"to": to, "amount": amount})

    @staticmethod
    def stake(amount: int) -> Call:
        return Call(Token.NAME, "Stake", {"amount": amount})

    @staticmethod
    def unstake(amount: int) -> Call:
        return Call(Token.NAME, "Unstake", {"amount": amount})


class Study:
    """Studies: proposal, majority approval, enrolment, withdrawal."""

    NAME = "Study"

    @staticmethod
    def get(study_id: str) -> Call:
        return Call(Study.NAME, "Get", {"study_id": study_id})

    @staticmethod
    def list() -> Call:
        return Call(Study.NAME, "List")

    @staticmethod
    def propose(params: StudyParams) -> Call:
        """Propose a study (its id and every parameter); the reward pool comes from the proposer."""
        return Call(Study.NAME, "Propose", dict(params))

    @staticmethod
    def approve(study_id: str) -> Call:
        return Call(Study.NAME, "Approve", {"study_id": study_id})

    @staticmethod
    def enroll(study_id: str) -> Call:
        return Call(Study.NAME, "Enroll", {"study_id": study_id})

    @staticmethod
    def withdraw(study_id: str) -> Call:
        return Call(Study.NAME, "Withdraw", {"study_id": study_id})


class Round:
    """A study's rounds: selection, commitments, secure aggregation, audits, validation, rewards."""

    NAME = "Round"

    @staticmethod
    def get(study_id: str, round: int) -> Call:
        return Call(Round.NAME, "Get", {"study_id": study_id, "round": round})

    @staticmethod
    def open(study_id: str) -> Call:
        """Open the study's next round (selects participants and committee)."""
        return Call(Round.NAME, "Open", {"study_id": study_id})

    @staticmethod
    def advance(study_id: str, round: int) -> Call:
        """Move a round on as far as completion and deadlines allow."""
        return Call(Round.NAME, "Advance", {"study_id": study_id, "round": round})

    @staticmethod
    def budget(study_id: str, msp_id: str) -> Call:
        """An org's privacy budget in a study: ``budget_micro`` and ``spent_micro``."""
        return Call(Round.NAME, "Budget", {"study_id": study_id, "msp_id": msp_id})

    @staticmethod
    def reputation(msp_id: str) -> Call:
        return Call(Round.NAME, "Reputation", {"msp_id": msp_id})

    @staticmethod
    def publish_keys(args: PublishKeysArgs) -> Call:
        return Call(Round.NAME, "PublishKeys", dict(args))

    @staticmethod
    def commit(args: CommitArgs) -> Call:
        return Call(Round.NAME, "Commit", dict(args))

    @staticmethod
    def submit_shares(args: SharesArgs) -> Call:
        return Call(Round.NAME, "SubmitShares", dict(args))

    @staticmethod
    def submit_proof(args: ProofArgs) -> Call:
        return Call(Round.NAME, "SubmitProof", dict(args))

    @staticmethod
    def submit_binding(args: BindingArgs) -> Call:
        return Call(Round.NAME, "SubmitBinding", dict(args))

    @staticmethod
    def submit_aggregate(
        study_id: str,
        round: int,
        model_cid: str | None,
        model_hash: str | None,
        excluded: list[Exclusion] | None = None,
        model_commitment: str | None = None,
        evaluations: dict[str, str] | None = None,
        pair_truths: dict[str, str] | None = None,
    ) -> Call:
        """The aggregate a committee member published (audited studies: with its commitment;
        bound rounds: with the values it computed at the round's point, and no model when its own
        check found an input that is not its bound update)."""
        args = _present(study_id=study_id, round=round, model_cid=model_cid, model_hash=model_hash,
                        excluded=excluded, model_commitment=model_commitment, evaluations=evaluations,
                        pair_truths=pair_truths)  # fmt: skip
        return Call(Round.NAME, "SubmitAggregate", args)

    @staticmethod
    def report_validation(study_id: str, round: int, metric_ppm: int, previous_metric_ppm: int) -> Call:
        return Call(Round.NAME, "ReportValidation", {"study_id": study_id, "round": round, "metric_ppm": metric_ppm,
                                                     "previous_metric_ppm": previous_metric_ppm})  # fmt: skip

    @staticmethod
    def settle(study_id: str, round: int) -> Call:
        """Pay a finalized round's rewards."""
        return Call(Round.NAME, "Settle", {"study_id": study_id, "round": round})


class Compliance:
    """Read-only compliance queries."""

    NAME = "Compliance"

    @staticmethod
    def study_timeline(study_id: str) -> Call:
        return Call(Compliance.NAME, "StudyTimeline", {"study_id": study_id})

    @staticmethod
    def model_lineage(study_id: str) -> Call:
        return Call(Compliance.NAME, "ModelLineage", {"study_id": study_id})

    @staticmethod
    def round_writes(study_id: str, round_no: int | None) -> Call:
        """Ledger key -> the transaction that wrote its current value, for a round's records and
        its study's (the study's only when ``round_no`` is None)."""
        return Call(Compliance.NAME, "RoundWrites", _present(study_id=study_id, round=round_no))

    @staticmethod
    def find_model(model_hash: str) -> Call:
        """The study and round (None: initial model) that made ``model_hash``; 404 if none."""
        return Call(Compliance.NAME, "FindModel", {"model_hash": model_hash})

    @staticmethod
    def org_record(msp_id: str) -> Call:
        """An org's account, reputation history, slashings, per-study epsilon and rewards."""
        return Call(Compliance.NAME, "OrgRecord", {"msp_id": msp_id})

    @staticmethod
    def reputation_history(msp_id: str) -> Call:
        """An org's reputation record after each change, oldest first."""
        return Call(Compliance.NAME, "ReputationHistory", {"msp_id": msp_id})

    @staticmethod
    def org_activity(msp_id: str) -> Call:
        return Call(Compliance.NAME, "OrgActivity", {"msp_id": msp_id})

    @staticmethod
    def slashings(msp_id: str | None = None) -> Call:
        return Call(Compliance.NAME, "Slashings", _present(msp_id=msp_id))


class Consent:
    """Patients' consent credentials: the credential stays in the grantee's private data."""

    NAME = "Consent"

    @staticmethod
    def register(credential: bytes) -> Call:
        """Register a consent credential (its JSON), sent as private data only."""
        return Call(Consent.NAME, "Register", {}, transient={"credential": credential})

    @staticmethod
    def revoke(consent_id: str, revocation: str) -> Call:
        """Relay a patient's revocation: ``revocation`` is the JWS the patient's wallet signed."""
        return Call(Consent.NAME, "Revoke", {"consent_id": consent_id},
                    transient={"revocation": revocation.encode()})  # fmt: skip

    @staticmethod
    def erase(consent_id: str) -> Call:
        """Purge a consent's credential from private data (the ledger keeps its hash)."""
        return Call(Consent.NAME, "Erase", {"consent_id": consent_id})

    @staticmethod
    def get(consent_id: str) -> Call:
        return Call(Consent.NAME, "Get", {"consent_id": consent_id})

    @staticmethod
    def summary() -> Call:
        """Counts only: consents per purpose, grantee, status and category, and events per day."""
        return Call(Consent.NAME, "Summary", {})

    @staticmethod
    def get_credential(consent_id: str) -> Call:
        """The credential itself, from the private data of the org that holds it."""
        return Call(Consent.NAME, "GetCredential", {"consent_id": consent_id})

    @staticmethod
    def list(grantee: str, purpose: str, bookmark: str | None = None, page_size: int | None = None) -> Call:
        """One page of a grantee's consents for a purpose; pass the answer's bookmark for the next."""
        return Call(Consent.NAME, "List", _present(grantee=grantee, purpose=purpose, bookmark=bookmark,
                                                   page_size=page_size))  # fmt: skip


class Zk:
    """Verifying keys of the zk audit circuits, with their setup ceremony's record."""

    NAME = "Zk"

    @staticmethod
    def get_key(vk_hash: str) -> Call:
        return Call(Zk.NAME, "GetKey", {"vk_hash": vk_hash})

    @staticmethod
    def register_key(circuit: str, vk: str, ceremony: Ceremony) -> Call:
        """Register a circuit's verifying key (base64) with its ceremony record."""
        return Call(Zk.NAME, "RegisterKey", {"circuit": circuit, "vk": vk, "ceremony": dict(ceremony)})


class LoadTest:
    """Registry-shaped writes for the ledger benchmark (test networks only)."""

    NAME = "LoadTest"

    @staticmethod
    def put(
        client: str,
        seq: int,
        display_name: str,
        share_key: str,
        contact: str,
        signing_key: str | None = None,
        ipfs_peer_id: str | None = None,
    ) -> Call:
        args = _present(client=client, seq=seq, display_name=display_name, share_key=share_key, contact=contact,
                        signing_key=signing_key, ipfs_peer_id=ipfs_peer_id)  # fmt: skip
        return Call(LoadTest.NAME, "Put", args)


class Diagnostics:
    """Private data, purge and pagination probes of the runtime (test networks only)."""

    NAME = "Diagnostics"

    @staticmethod
    def put_private(key: str, value: bytes | None = None) -> Call:
        """Store ``value`` (sent as private data) under ``key`` in the caller's collection."""
        return Call(Diagnostics.NAME, "PutPrivate", {"key": key}, transient=None if value is None else {"value": value})

    @staticmethod
    def get_private(key: str) -> Call:
        return Call(Diagnostics.NAME, "GetPrivate", {"key": key})

    @staticmethod
    def get_private_hash(key: str, msp_id: str) -> Call:
        return Call(Diagnostics.NAME, "GetPrivateHash", {"key": key, "msp_id": msp_id})

    @staticmethod
    def purge_private(key: str) -> Call:
        return Call(Diagnostics.NAME, "PurgePrivate", {"key": key})

    @staticmethod
    def fill(prefix: str, count: int) -> Call:
        return Call(Diagnostics.NAME, "Fill", {"prefix": prefix, "count": count})

    @staticmethod
    def page(prefix: str, page_size: int, bookmark: str | None = None) -> Call:
        return Call(Diagnostics.NAME, "Page", _present(prefix=prefix, page_size=page_size, bookmark=bookmark))


CONTRACTS = (Registry, Token, Study, Round, Compliance, Consent, Zk, LoadTest, Diagnostics)
