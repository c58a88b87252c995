"""The command line's one error path: every failure a user can act on becomes one clear
message and exit status 1, never a traceback.

The ledger's refusals keep every peer's answer (which peer refused and why); the other
failures (a bad config or data file, an unreachable IPFS node, an ACA-Py agent's error, an
artifact that does not match the ledger, a Fabric tool or a host that failed) carry their own
message. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import click

from agent.consent.gate import LinkTableError
from agent.daemon.config import ConfigError
from agent.data.schema import DataError
from agent.storage.vault import ArtifactError
from agent.study_file import StudyFileError
from clients.acapy import AcaPyError
from clients.fabric import GatewayError
from clients.kubo import IPFSError
from network.binaries import ToolError
from network.hosts import HostLabError
from provenance.errors import Refused

USER_ERRORS: tuple[type[Exception], ...] = (GatewayError, AcaPyError, IPFSError, ArtifactError, ConfigError,
                                            DataError, StudyFileError, LinkTableError, ToolError,
                                            HostLabError, Refused)  # fmt: skip


def as_click_error(exc: Exception) -> click.ClickException:
    """The message a user sees for ``exc``, one of :data:`USER_ERRORS`."""
    return click.ClickException(str(exc))
