"""Which org runs on which namespace host: the plan a multi-host consortium is laid out by.

Every org gets a host named after it (``orderers`` for the orderer org, the org's short name
for the others, ``patients`` for the patients' agent) in a lab of network/hosts.py; the n-th
member of the plan gets the lab's n-th address. The plan is recorded in the network's manifest,
so that a later command (``status``, ``down``, an org joining) finds the same hosts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from network.hosts import Host, HostLab
from network.sites import PATIENTS
from network.topology import ORDERER_ORG, Org


def host_name(member: Org | str) -> str:
    """The host of an org (or of the patients' agent)."""
    if member == ORDERER_ORG or member == ORDERER_ORG.name:
        return "orderers"
    if isinstance(member, Org):
        return member.short
    return member.lower()


@dataclass(frozen=True)
class HostPlan:
    """``members``: org names (and PATIENTS) in host order."""

    lab: str
    subnet: str
    members: tuple[str, ...]

    @property
    def hostlab(self) -> HostLab:
        return HostLab(self.lab, self.subnet)

    def hosts(self) -> list[Host]:
        return [self.hostlab.host(host_name(m), i) for i, m in enumerate(self.members)]

    def host(self, member: Org | str) -> Host:
        name = member.name if isinstance(member, Org) else member
        if name not in self.members:
            raise KeyError(f"{name} has no host in lab {self.lab}")
        return self.hosts()[self.members.index(name)]

    def addresses(self) -> tuple[tuple[str, str], ...]:
        """(member, address) pairs: the topology's ``hosts``."""
        return tuple((m, h.address) for m, h in zip(self.members, self.hosts(), strict=True))

    def namespaces(self) -> tuple[tuple[str, str], ...]:
        """(address, namespace) pairs: where network/sites.py runs a member's processes."""
        return tuple((h.address, h.namespace) for h in self.hosts())

    def with_member(self, member: str) -> HostPlan:
        """The plan with one more host (an org admitted to the running channel)."""
        if member in self.members:
            return self
        return HostPlan(self.lab, self.subnet, (*self.members, member))

    def to_json(self) -> dict[str, Any]:
        return {"lab": self.lab, "subnet": self.subnet, "members": list(self.members)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostPlan:
        return cls(data["lab"], data["subnet"], tuple(data["members"]))


def consortium_plan(lab: str, subnet: str, orgs: list[Org], patients: bool = False) -> HostPlan:
    """One host per org of ``orgs`` (the orderer org included by the caller) and, with
    ``patients``, one for the patients' agent."""
    return HostPlan(lab, subnet, (*(o.name for o in orgs), *((PATIENTS,) if patients else ())))
