"""Who may call what: org roles and NodeOU roles.

fedledger's channel has three kinds of application org: hospitals (train, stake, serve on
committees, write their own records), the Regulator (compliance officers: reads everything,
writes nothing) and, later, new hospitals admitted by the consortium. The Regulator's MSP IDs
are fixed here because endorsers must agree on them without reading anything else.

Within a hospital org, the certificate's NodeOU says who may write:

* ``client`` (the hospital's agent) and ``admin``: round, consent and other agent writes
  (``require_hospital``);
* ``admin`` only: governance writes (registry entry, tokens, studies, verifying keys;
  ``require_hospital_admin``);
* ``peer``, ``orderer`` or no NodeOU at all: no writes. A peer's or orderer's key lives on
  a node, not with a person, and signs for the org only as infrastructure; an identity
  without a NodeOU has no role anyone granted it.
"""

from __future__ import annotations

from chaincode.runtime.errors import Forbidden
from chaincode.runtime.stub import Stub

REGULATOR_MSP_IDS = frozenset({"RegulatorMSP"})
WRITER_ROLES = ("client", "admin")


def is_regulator(msp_id: str) -> bool:
    return msp_id in REGULATOR_MSP_IDS


def require_hospital(stub: Stub) -> str:
    """The caller must be a client or admin identity of a hospital org; returns its MSP ID.
    Every write goes through here (directly or through ``require_hospital_admin``)."""
    msp_id = stub.creator.msp_id
    if is_regulator(msp_id):
        raise Forbidden(f"{msp_id} is a read-only regulator org and may not write to the ledger")
    role = stub.creator.node_ou
    if role not in WRITER_ROLES:
        who = f"{role} identity" if role else "identity with no NodeOU"
        raise Forbidden(f"{msp_id}'s {who} may not write to the ledger; writes need NodeOU {' or '.join(WRITER_ROLES)}")
    return msp_id


def require_hospital_admin(stub: Stub) -> str:
    """The caller must be an admin (NodeOU ``admin``) of a hospital org; returns its MSP ID."""
    msp_id = require_hospital(stub)
    if stub.creator.node_ou != "admin":
        raise Forbidden(f"only an admin of {msp_id} may do this; the caller's role is {stub.creator.node_ou}")
    return msp_id


def require_own_org(stub: Stub, msp_id: str) -> None:
    """Writes about an org may only come from that org."""
    if stub.creator.msp_id != msp_id:
        raise Forbidden(f"{stub.creator.msp_id} may not write the record of {msp_id}")
