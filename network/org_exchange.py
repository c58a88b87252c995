"""What the orgs of a consortium on hosts hand each other, and where it passes.

``<network>/exchange/`` stands in for the mail between the orgs' admins: each org's definition
(network/org_definitions.py: certificates and endpoints, never a key), the genesis block the
orderer org made, and config updates being signed. An org takes what it is handed into its
own state directory. On one machine there is one state directory and nothing to hand over.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from network import org_definitions
from network.sites import Sites
from network.state import StateDir
from network.topology import Org, Topology


class OrgExchange:
    def __init__(self, topology: Topology, sites: Sites) -> None:
        self.topology = topology
        self.sites = sites

    def definition_path(self, org: Org) -> Path:
        """Where ``org``'s definition is handed to the others."""
        return self.sites.exchange / "definitions" / org.short

    def export(self, org: Org) -> Path:
        """``org`` hands its definition to the others (from its own state directory)."""
        return org_definitions.export(self.sites.state(org), self.topology, org, self.definition_path(org))

    def take(self, org: Org, into: Org) -> None:
        """``into`` takes ``org``'s definition into its own state directory."""
        org_definitions.receive(self.definition_path(org), self.sites.state(into), org)

    def everyone_takes_everyone(self, orgs: list[Org]) -> None:
        for org in orgs:
            for other in orgs:
                if other != org:
                    self.take(other, into=org)

    def site_states(self) -> list[StateDir]:
        """Every distinct state directory of the orgs (one, on one machine)."""
        states = [self.sites.state(o) for o in self.topology.orgs]
        return list({s.root: s for s in states}.values())

    def hand_out(self, source: Path, name: str, where: Callable[[StateDir], Path]) -> None:
        """Hand the file ``source`` to every org: through the exchange, into ``where(site)``."""
        if not self.sites.separate:
            return
        shared = self.sites.exchange / name
        shared.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, shared)
        for site in self.site_states():
            target = where(site)
            if target != source:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(shared, target)
