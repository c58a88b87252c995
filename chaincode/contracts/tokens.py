"""Tokens, stakes, reward pools and slashing.

Tokens enter only through mints that a majority of registered hospital orgs approve
(``Token:ProposeMint`` then ``Token:ApproveMint``); nothing else creates or destroys them.
Every other operation moves tokens between an org's free balance, its stake, and a study's
reward pool, so that at all times::

    sum(balance) + sum(staked) + sum(pool balances) == minted

Slashed stake goes to the reward pool of the study in which the fault happened, where it pays
honest participants. Stake that backs a selection is *locked* until the round ends and cannot
be unstaked. No balance, stake or pool can become negative.

State::

    token~account~<msp_id>    -> {"balance", "staked", "locked"}
    token~pool~<study_id>     -> {"balance"}
    token~supply              -> {"minted"}
    token~mint~<mint_id>      -> {"to", "amount", "approvals", "status", ...}
    token~slash~<msp_id>~<ts>~<tx_id>~<seq> -> {"amount", "study", "round", "reason", "evidence"}
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts import ledger_log
from chaincode.contracts.access import require_hospital_admin
from chaincode.contracts.registry import MSP_ID, majority, registered_hospitals, require_registered
from chaincode.runtime import canonical
from chaincode.runtime.contract import Contract, query, transaction
from chaincode.runtime.errors import Conflict, InvalidArgument, NotFound
from chaincode.runtime.schema import Int, Schema, Str
from chaincode.runtime.stub import Stub

TOKEN = "token"  # noqa: S105 - a key prefix, not a secret
MAX_AMOUNT = 10**15
ID = r"[a-z0-9][a-z0-9-]{2,39}"


# --- library used by the other contracts ------------------------------------------------------
def _account_key(stub: Stub, msp_id: str) -> str:
    return stub.create_composite_key(TOKEN, ["account", msp_id])


def _pool_key(stub: Stub, study_id: str) -> str:
    return stub.create_composite_key(TOKEN, ["pool", study_id])


def account(stub: Stub, msp_id: str) -> dict[str, int]:
    return stub.get_json(_account_key(stub, msp_id)) or {"balance": 0, "staked": 0, "locked": 0}


def _put_account(stub: Stub, msp_id: str, acct: dict[str, int]) -> None:
    if min(acct["balance"], acct["staked"], acct["locked"]) < 0 or acct["locked"] > acct["staked"]:
        raise AssertionError(f"token invariant broken for {msp_id}: {acct}")
    stub.put_json(_account_key(stub, msp_id), acct)


def pool_balance(stub: Stub, study_id: str) -> int:
    pool = stub.get_json(_pool_key(stub, study_id))
    return pool["balance"] if pool else 0


def _put_pool(stub: Stub, study_id: str, balance: int) -> None:
    if balance < 0:
        raise AssertionError(f"pool of {study_id} would go negative")
    stub.put_json(_pool_key(stub, study_id), {"balance": balance})


def fund_pool(stub: Stub, msp_id: str, study_id: str, amount: int) -> None:
    """Move ``amount`` from ``msp_id``'s free balance into the study's reward pool."""
    acct = account(stub, msp_id)
    if acct["balance"] < amount:
        raise Conflict(f"{msp_id} has {acct['balance']} free tokens; {amount} needed for the reward pool")
    acct["balance"] -= amount
    _put_account(stub, msp_id, acct)
    _put_pool(stub, study_id, pool_balance(stub, study_id) + amount)


def pay_from_pool(stub: Stub, study_id: str, msp_id: str, amount: int) -> int:
    """Pay up to ``amount`` from the pool to ``msp_id``'s balance; returns what was paid."""
    paid = min(amount, pool_balance(stub, study_id))
    if paid <= 0:
        return 0
    _put_pool(stub, study_id, pool_balance(stub, study_id) - paid)
    acct = account(stub, msp_id)
    acct["balance"] += paid
    _put_account(stub, msp_id, acct)
    return paid


def free_stake(stub: Stub, msp_id: str) -> int:
    acct = account(stub, msp_id)
    return acct["staked"] - acct["locked"]


def lock(stub: Stub, msp_id: str, amount: int) -> None:
    acct = account(stub, msp_id)
    if acct["staked"] - acct["locked"] < amount:
        raise Conflict(f"{msp_id} has only {acct['staked'] - acct['locked']} unlocked stake; {amount} needed")
    acct["locked"] += amount
    _put_account(stub, msp_id, acct)


def unlock(stub: Stub, msp_id: str, amount: int) -> None:
    acct = account(stub, msp_id)
    acct["locked"] = max(0, acct["locked"] - amount)
    _put_account(stub, msp_id, acct)


def slash(stub: Stub, msp_id: str, amount: int, study_id: str, round_no: int | None, reason: str, evidence: str) -> int:
    """Take up to ``amount`` of stake (locked first) into the study's pool; returns the amount."""
    acct = account(stub, msp_id)
    taken = min(amount, acct["staked"])
    if taken <= 0:
        return 0
    acct["staked"] -= taken
    acct["locked"] = min(acct["locked"], acct["staked"])
    _put_account(stub, msp_id, acct)
    _put_pool(stub, study_id, pool_balance(stub, study_id) + taken)
    seq = getattr(stub, "_slash_seq", 0)
    stub._slash_seq = seq + 1  # type: ignore[attr-defined]
    record = {
        "msp_id": msp_id,
        "amount": taken,
        "study": study_id,
        "round": round_no,
        "reason": reason,
        "evidence": evidence,
        "ts_ms": stub.timestamp_ms,
        "tx_id": stub.tx_id,
    }
    key = stub.create_composite_key(TOKEN, ["slash", msp_id, f"{stub.timestamp_ms:015d}", stub.tx_id, f"{seq:04d}"])
    stub.put_json(key, record)
    ledger_log.record(stub, "token.slashed", study_id, record, org=msp_id, round_no=round_no, event=False)
    return taken


def slashes(stub: Stub, msp_id: str | None = None) -> list[dict[str, Any]]:
    attrs = ["slash"] + ([msp_id] if msp_id else [])
    return [canonical.loads(kv.value) for kv in stub.get_state_by_partial_composite_key(TOKEN, attrs)]


# --- the contract -------------------------------------------------------------------------------
AMOUNT = Int(1, MAX_AMOUNT)


class TokenContract(Contract):
    name = "Token"

    @transaction(Schema({"mint_id": Str(pattern=ID), "to": Str(max_len=64, pattern=MSP_ID), "amount": AMOUNT}))
    def ProposeMint(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Propose minting ``amount`` tokens to a registered hospital; the proposer approves."""
        msp_id = require_hospital_admin(stub)
        require_registered(stub, msp_id)
        require_registered(stub, args["to"])
        key = stub.create_composite_key(TOKEN, ["mint", args["mint_id"]])
        if stub.get_json(key) is not None:
            raise Conflict(f"mint {args['mint_id']} already exists")
        mint = {
            "mint_id": args["mint_id"],
            "to": args["to"],
            "amount": args["amount"],
            "approvals": [msp_id],
            "status": "PROPOSED",
            "proposed_by": msp_id,
            "proposed_at_ms": stub.timestamp_ms,
        }
        return self._maybe_execute(stub, key, mint)

    @transaction(Schema({"mint_id": Str(pattern=ID)}))
    def ApproveMint(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        msp_id = require_hospital_admin(stub)
        require_registered(stub, msp_id)
        key = stub.create_composite_key(TOKEN, ["mint", args["mint_id"]])
        mint = stub.get_json(key)
        if mint is None:
            raise NotFound(f"no mint {args['mint_id']}")
        if mint["status"] != "PROPOSED":
            raise Conflict(f"mint {args['mint_id']} is already {mint['status']}")
        if msp_id in mint["approvals"]:
            raise Conflict(f"{msp_id} already approved mint {args['mint_id']}")
        mint["approvals"] = sorted([*mint["approvals"], msp_id])
        return self._maybe_execute(stub, key, mint)

    @staticmethod
    def _maybe_execute(stub: Stub, key: str, mint: dict[str, Any]) -> dict[str, Any]:
        needed = majority(len(registered_hospitals(stub)))
        if len(mint["approvals"]) >= needed:
            mint["status"] = "EXECUTED"
            mint["executed_at_ms"] = stub.timestamp_ms
            acct = account(stub, mint["to"])
            acct["balance"] += mint["amount"]
            _put_account(stub, mint["to"], acct)
            supply_key = stub.create_composite_key(TOKEN, ["supply"])
            supply = stub.get_json(supply_key) or {"minted": 0}
            supply["minted"] += mint["amount"]
            stub.put_json(supply_key, supply)
        stub.put_json(key, mint)
        action = "token.minted" if mint["status"] == "EXECUTED" else "token.mint_approved"
        ledger_log.record(
            stub,
            action,
            None,
            {
                "mint_id": mint["mint_id"],
                "to": mint["to"],
                "amount": mint["amount"],
                "approvals": len(mint["approvals"]),
                "needed": needed,
            },
        )
        return mint

    @transaction(Schema({"amount": AMOUNT}))
    def Stake(self, stub: Stub, args: dict[str, Any]) -> dict[str, int]:
        msp_id = require_hospital_admin(stub)
        acct = account(stub, msp_id)
        if acct["balance"] < args["amount"]:
            raise Conflict(f"{msp_id} has {acct['balance']} free tokens, cannot stake {args['amount']}")
        acct["balance"] -= args["amount"]
        acct["staked"] += args["amount"]
        _put_account(stub, msp_id, acct)
        ledger_log.record(stub, "token.staked", None, {"amount": args["amount"], "staked": acct["staked"]})
        return acct

    @transaction(Schema({"to": Str(max_len=64, pattern=MSP_ID), "amount": AMOUNT}))
    def Transfer(self, stub: Stub, args: dict[str, Any]) -> dict[str, int]:
        """Pay free tokens to another registered hospital (for example to fund its stake)."""
        msp_id = require_hospital_admin(stub)
        require_registered(stub, args["to"])
        if args["to"] == msp_id:
            raise InvalidArgument("cannot transfer to yourself")
        acct = account(stub, msp_id)
        if acct["balance"] < args["amount"]:
            raise Conflict(f"{msp_id} has {acct['balance']} free tokens, cannot transfer {args['amount']}")
        acct["balance"] -= args["amount"]
        _put_account(stub, msp_id, acct)
        target = account(stub, args["to"])
        target["balance"] += args["amount"]
        _put_account(stub, args["to"], target)
        ledger_log.record(stub, "token.transferred", None, {"to": args["to"], "amount": args["amount"]})
        return acct

    @transaction(Schema({"amount": AMOUNT}))
    def Unstake(self, stub: Stub, args: dict[str, Any]) -> dict[str, int]:
        msp_id = require_hospital_admin(stub)
        acct = account(stub, msp_id)
        unlocked = acct["staked"] - acct["locked"]
        if unlocked < args["amount"]:
            raise Conflict(
                f"{msp_id} can unstake at most {unlocked}: {acct['locked']} of its stake backs a current selection"
            )
        acct["staked"] -= args["amount"]
        acct["balance"] += args["amount"]
        _put_account(stub, msp_id, acct)
        ledger_log.record(stub, "token.unstaked", None, {"amount": args["amount"], "staked": acct["staked"]})
        return acct

    @query(Schema({"msp_id": Str(max_len=64, pattern=MSP_ID)}))
    def Account(self, stub: Stub, args: dict[str, Any]) -> dict[str, int]:
        return account(stub, args["msp_id"])

    @query()
    def Supply(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Minted supply next to the sum of every account and pool: they must be equal."""
        minted = (stub.get_json(stub.create_composite_key(TOKEN, ["supply"])) or {"minted": 0})["minted"]
        held = sum(
            v["balance"] + v["staked"]
            for v in (canonical.loads(kv.value) for kv in stub.get_state_by_partial_composite_key(TOKEN, ["account"]))
        )
        pools = sum(
            canonical.loads(kv.value)["balance"] for kv in stub.get_state_by_partial_composite_key(TOKEN, ["pool"])
        )
        return {"minted": minted, "accounts": held, "pools": pools, "conserved": minted == held + pools}

    @query(Schema({"msp_id": Str(max_len=64, pattern=MSP_ID, required=False)}))
    def Slashes(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        return slashes(stub, args["msp_id"])
