"""Fabric's two policy kinds, evaluated over identities already verified to have signed.

A signature policy is a tree of ``n out of`` over principals (an MSP role such as
``HospitalAMSP.peer``); as in Fabric, each signer counts for one principal only. An implicit
meta policy (``MAJORITY Endorsement``) asks how many of a group's children satisfy their own
policy of that name: ANY, ALL or MAJORITY (more than half).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fabric_protos.common import policies_pb2
from fabric_protos.msp import msp_principal_pb2
from google.protobuf.message import DecodeError

from provenance.errors import Refused
from provenance.msp import Identity

_ROLES = {
    msp_principal_pb2.MSPRole.MEMBER: "member",
    msp_principal_pb2.MSPRole.ADMIN: "admin",
    msp_principal_pb2.MSPRole.CLIENT: "client",
    msp_principal_pb2.MSPRole.PEER: "peer",
    msp_principal_pb2.MSPRole.ORDERER: "orderer",
}
_MAX_DEPTH = 16


@dataclass(frozen=True)
class Principal:
    msp_id: str
    role: str  # member | admin | client | peer | orderer; "" for a principal kind not supported here

    def accepts(self, who: Identity) -> bool:
        return bool(self.role) and who.msp_id == self.msp_id and self.role in who.roles

    def __str__(self) -> str:
        return f"{self.msp_id}.{self.role or 'unsupported-principal'}"


@dataclass(frozen=True)
class SignaturePolicy:
    """``n`` out of ``rules``, or (``signed_by`` >= 0) one signature by principal ``signed_by``."""

    principals: tuple[Principal, ...]
    rule: policies_pb2.SignaturePolicy

    @classmethod
    def parse(cls, raw: bytes) -> SignaturePolicy:
        try:
            env = policies_pb2.SignaturePolicyEnvelope.FromString(raw)
        except DecodeError as exc:
            raise Refused(f"unreadable signature policy: {exc}") from None
        principals = []
        for p in env.identities:
            if p.principal_classification == msp_principal_pb2.MSPPrincipal.ROLE:
                role = msp_principal_pb2.MSPRole.FromString(p.principal)
                principals.append(Principal(role.msp_identifier, _ROLES.get(role.role, "")))
            else:
                principals.append(Principal("?", ""))
        return cls(tuple(principals), env.rule)

    def satisfied_by(self, signers: Sequence[Identity]) -> bool:
        used = [False] * len(signers)
        return self._eval(self.rule, signers, used, 0)

    def _eval(self, rule: policies_pb2.SignaturePolicy, signers: Sequence[Identity], used: list[bool],
              depth: int) -> bool:  # fmt: skip
        if depth > _MAX_DEPTH:
            return False
        if rule.WhichOneof("Type") == "signed_by":
            if not 0 <= rule.signed_by < len(self.principals):
                return False
            principal = self.principals[rule.signed_by]
            for i, who in enumerate(signers):
                if not used[i] and principal.accepts(who):
                    used[i] = True
                    return True
            return False
        n_out_of = rule.n_out_of
        met = 0
        for sub in n_out_of.rules:
            trial = list(used)
            if self._eval(sub, signers, trial, depth + 1):
                used[:] = trial
                met += 1
        return met >= n_out_of.n

    def __str__(self) -> str:
        return " / ".join(str(p) for p in self.principals)


@dataclass(frozen=True)
class ImplicitMeta:
    sub_policy: str
    rule: str  # ANY | ALL | MAJORITY

    @classmethod
    def parse(cls, raw: bytes) -> ImplicitMeta:
        try:
            meta = policies_pb2.ImplicitMetaPolicy.FromString(raw)
        except DecodeError as exc:
            raise Refused(f"unreadable implicit meta policy: {exc}") from None
        return cls(meta.sub_policy, policies_pb2.ImplicitMetaPolicy.Rule.Name(meta.rule))

    def needed(self, children: int) -> int:
        return {"ANY": 1, "ALL": children, "MAJORITY": children // 2 + 1}[self.rule]

    def __str__(self) -> str:
        return f"{self.rule} {self.sub_policy}"


Policy = SignaturePolicy | ImplicitMeta


def parse_policy(policy: policies_pb2.Policy) -> Policy:
    if policy.type == policies_pb2.Policy.SIGNATURE:
        return SignaturePolicy.parse(policy.value)
    if policy.type == policies_pb2.Policy.IMPLICIT_META:
        return ImplicitMeta.parse(policy.value)
    raise Refused(f"policy type {policy.type} is not supported by this verifier")
