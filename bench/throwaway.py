"""A throw-away consortium for a benchmark: its own ports and temporary state, the hospitals
registered, everything stopped and deleted afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from demo.consortium_admin import register_hospitals
from network.admins import Admins
from network.consortium import LocalConsortium
from network.state import StateDir
from network.topology import Topology


@contextmanager
def registered_network(
    name: str, port_base: int, progress: Callable[[str], None], **options: bool
) -> Iterator[LocalConsortium]:
    """``options`` are LocalConsortium flags such as ``with_ipfs=False`` or ``with_aries=False``."""
    state_root = Path(tempfile.mkdtemp(prefix=f"fedledger-{name}-"))
    net = LocalConsortium(
        StateDir(state_root), Topology(port_base=port_base), progress=lambda m: progress(f"  network: {m}"), **options
    )
    try:
        net.up()
        with Admins(net) as admins:
            register_hospitals(admins)
        yield net
    finally:
        net.down()
        shutil.rmtree(state_root, ignore_errors=True)


@contextmanager
def storage_nodes(name: str, port_base: int, progress: Callable[[str], None]) -> Iterator[LocalConsortium]:
    """The hospitals' Kubo daemons only (no ledger), in temporary state, deleted afterwards."""
    state_root = Path(tempfile.mkdtemp(prefix=f"fedledger-{name}-"))
    shutil.rmtree(state_root)  # the nodes want a fresh directory
    net = LocalConsortium(
        StateDir(state_root),
        Topology(port_base=port_base),
        progress=lambda m: progress(f"  ipfs: {m}"),
        with_aries=False,
    )
    try:
        net.up_storage_only()
        yield net
    finally:
        net.down()
        shutil.rmtree(state_root, ignore_errors=True)
