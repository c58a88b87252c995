"""Who may call what: org roles and NodeOU roles.

fedledger's channel has three kinds of application org: hospitals (train, stake, serve on
committees, write their own records), the Regulator (compliance officers: reads everything,
writes nothing) and, later, new hospitals admitted by the consortium. The Regulator's MSP IDs
are fixed here because endorsers must agree on them without reading anything else.
"""

from __future__ import annotations

from chaincode.runtime.errors import Forbidden
from chaincode.runtime.stub import Stub

REGULATOR_MSP_IDS = frozenset({"RegulatorMSP"})


def is_regulator(msp_id: str) -> bool:
    return msp_id in REGULATOR_MSP_IDS


def require_hospital(stub: Stub) -> str:
    """The caller must belong to a hospital org; returns its MSP ID."""
    msp_id = stub.creator.msp_id
    if is_regulator(msp_id):
        raise Forbidden(f"{msp_id} is a read-only regulator org and may not write to the ledger")
    return msp_id


def require_hospital_admin(stub: Stub) -> str:
    """The caller must be an admin (NodeOU ``admin``) of a hospital org; returns its MSP ID."""
    msp_id = require_hospital(stub)
    if stub.creator.node_ou != "admin":
        raise Forbidden(
            f"only an admin of {msp_id} may do this; the caller's role is {stub.creator.node_ou or 'unknown'}"
        )
    return msp_id


def require_own_org(stub: Stub, msp_id: str) -> None:
    """Writes about an org may only come from that org."""
    if stub.creator.msp_id != msp_id:
        raise Forbidden(f"{stub.creator.msp_id} may not write the record of {msp_id}")
