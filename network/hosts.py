"""Hosts on one machine for a consortium spread across organisations: network namespaces
joined through veth pairs to one bridge, each with its own address.

A *lab* is a switch namespace ``<lab>-sw`` holding a bridge, and one namespace per host
``<lab>-<host>`` whose only interface, ``eth0``, is one end of a veth pair; the other end sits
in the switch namespace, enslaved to the bridge. Host i gets ``<subnet>.<i + 10>/24``. The
root namespace is not touched (no bridge, address or route is added there) unless a workstation
leg is asked for, so a lab cannot disturb the machine's own networking, and removing a lab is
deleting its namespaces (their veths go with them).

With ``workstation=True`` the machine's own namespace gets one leg on the bridge too
(``<lab>-ws``, address ``<subnet>.2``): the operator's workstation, from which tests and the
CLI reach the hosts' services; it is the only change to the machine's own namespace and goes
away with the lab.

A host is cut from the others by taking its switch-side link down (a partition as the host
would see a pulled cable: no error, just silence) and joined again by bringing it up.
Processes run inside a host through ``exec_argv`` (``ip netns exec``). Needs root and
iproute2 (``ip netns``); every command is checked and a failure names the command and what
``ip`` said.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")  # host and lab names: short enough for interface names


class HostLabError(RuntimeError):
    """A namespace, link or address could not be made, changed or removed."""


@dataclass(frozen=True)
class Host:
    name: str  # "hospitala"
    namespace: str  # "fl-hospitala"
    address: str  # "10.77.0.11"
    switch_port: str  # the veth end on the bridge, e.g. "p11"


def _ip(*args: str) -> str:
    argv = ["ip", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostLabError(f"`{' '.join(argv)}` could not run: {exc}") from None
    if done.returncode != 0:
        raise HostLabError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


class HostLab:
    """The hosts of one lab. ``lab``: the namespaces' prefix; ``subnet``: a /24 for the hosts."""

    def __init__(self, lab: str = "fl", subnet: str = "10.77.0.0/24") -> None:
        if not NAME.match(lab):
            raise ValueError(f"lab name {lab!r}: 1-10 lowercase letters or digits, starting with a letter")
        net = ipaddress.ip_network(subnet)
        if net.version != 4 or net.prefixlen != 24:
            raise ValueError(f"subnet {subnet}: an IPv4 /24 is expected")
        self.lab = lab
        self.subnet = net
        self.switch = f"{lab}-sw"

    def namespaces(self) -> list[str]:
        """This lab's namespaces that exist now (switch included)."""
        names = [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]
        return sorted(n for n in names if n == self.switch or n.startswith(f"{self.lab}-"))

    def host(self, name: str, index: int) -> Host:
        """Host ``name`` as the ``index``-th of the lab (its address and switch port follow)."""
        if not NAME.match(name):
            raise ValueError(f"host name {name!r}: 1-10 lowercase letters or digits, starting with a letter")
        if not 0 <= index < 200:
            raise ValueError("at most 200 hosts in a lab")
        number = index + 10
        return Host(name, f"{self.lab}-{name}", str(self.subnet.network_address + number), f"p{number}")

    @property
    def workstation_address(self) -> str:
        return str(self.subnet.network_address + 2)

    def up(self, names: Sequence[str], workstation: bool = False) -> list[Host]:
        """Make the switch and one host per name (in order), and with ``workstation`` the
        machine's own leg on the bridge; a lab that exists is removed first, so that every run
        starts from the same wiring."""
        if len(set(names)) != len(names):
            raise ValueError(f"host names repeat: {list(names)}")
        hosts = [self.host(n, i) for i, n in enumerate(names)]
        self.down()
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for h in hosts:
            self._wire(h)
        if workstation:
            _ip("link", "add", f"{self.lab}-ws", "type", "veth", "peer", "name", "pws", "netns", self.switch)
            _ip("-n", self.switch, "link", "set", "pws", "master", "br0")
            _ip("-n", self.switch, "link", "set", "pws", "up")
            _ip("addr", "add", f"{self.workstation_address}/24", "dev", f"{self.lab}-ws")
            _ip("link", "set", f"{self.lab}-ws", "up")
        return hosts

    def attach(self, name: str, index: int) -> Host:
        """Add host ``name`` as the ``index``-th to the running lab (a new org's machine)."""
        h = self.host(name, index)
        if h.namespace in self.namespaces():
            raise HostLabError(f"host {h.namespace} exists already")
        if self.switch not in self.namespaces():
            raise HostLabError(f"lab {self.lab} is not up (no {self.switch})")
        self._wire(h)
        return h

    def _wire(self, h: Host) -> None:
        _ip("netns", "add", h.namespace)
        _ip("-n", self.switch, "link", "add", h.switch_port, "type", "veth", "peer", "name", "eth0",
            "netns", h.namespace)  # fmt: skip
        _ip("-n", self.switch, "link", "set", h.switch_port, "master", "br0")
        _ip("-n", self.switch, "link", "set", h.switch_port, "up")
        _ip("-n", h.namespace, "addr", "add", f"{h.address}/24", "dev", "eth0")
        _ip("-n", h.namespace, "link", "set", "eth0", "up")
        _ip("-n", h.namespace, "link", "set", "lo", "up")

    def down(self) -> list[str]:
        """Remove every namespace of this lab; returns what was removed."""
        gone = self.namespaces()
        for ns in gone:
            _ip("netns", "del", ns)
        return gone

    def cut(self, host: Host) -> None:
        """Partition ``host`` from every other host (its cable pulled at the switch)."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "down")

    def restore(self, host: Host) -> None:
        """Join ``host`` to the others again."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "up")

    def is_cut(self, host: Host) -> bool:
        """Whether ``host``'s switch port is down (its link flags lack UP)."""
        shown = _ip("-n", self.switch, "-o", "link", "show", host.switch_port)
        return "UP" not in shown.split("<", 1)[1].split(">", 1)[0].split(",")

    @staticmethod
    def exec_argv(host: Host, argv: Sequence[str]) -> list[str]:
        """``argv`` as a command that runs inside ``host``."""
        return ["ip", "netns", "exec", host.namespace, *argv]
