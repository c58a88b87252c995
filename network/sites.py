"""Where each org keeps its files and runs its processes.

On one machine (the demo) every org shares the network's state directory and the machine's own
network stack. In the multi-host mode every org has a state directory of its own,
``<network>/orgs/<org name, lower case>/`` (its CA, its keys, its nodes' data, logs and pid files, and the
certificates the other orgs handed it), and a host of its own: a network namespace of
network/hosts.py, found from the address the topology gives the org. No process of an org is
given a path in another org's directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from network.state import StateDir
from network.topology import Org

PATIENTS = "Patients"  # the patients' agent: a party of its own, not an org of the channel


@dataclass(frozen=True)
class Sites:
    """``root``: the network's state directory (its manifest, and on one machine everything);
    ``separate``: whether each org has a directory of its own; ``namespaces``: (host address,
    network namespace) of every host, empty on one machine."""

    root: StateDir
    separate: bool = False
    namespaces: tuple[tuple[str, str], ...] = ()

    def state(self, owner: Org | str) -> StateDir:
        """The state directory of ``owner`` (an org, an org's name, or PATIENTS)."""
        if not self.separate:
            return self.root
        return StateDir(self.dir_of(owner))

    def dir_of(self, owner: Org | str) -> Path:
        name = owner.name if isinstance(owner, Org) else owner
        return self.root.root / "orgs" / name.lower()

    def netns(self, host: str) -> str | None:
        """The namespace of the host at address ``host``; None runs in the machine's own."""
        return dict(self.namespaces).get(host)

    @property
    def exchange(self) -> Path:
        """What orgs hand each other (org definitions, config blocks, signed config updates):
        the stand-in for the mail between consortium admins; never a private key."""
        return self.root.root / "exchange"
