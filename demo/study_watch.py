"""Live progress of a study, as the ledger tells it: one line per event, and a table of every
hospital's part in every round.

It follows the chaincode's events through a read-only identity (the Regulator's compliance
officer in the demo), so what it shows is exactly what is on the ledger, nothing the agents
merely claim.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from clients.fabric import Checkpoint, Gateway
from network.topology import CHAINCODE_NAME, CHANNEL

STAGES = {  # event -> the hospital's stage it marks
    "round.keys_published": "keys published",
    "round.committed": "committed",
    "round.proof_verified": "proof verified",
    "round.proof_failed": "proof FAILED (slashed)",
    "round.binding_verified": "input bound",
    "round.binding_failed": "binding FAILED (slashed)",
    "round.shares_submitted": "shares published",
    "round.shares_ready": "shares published",
    "round.aggregate_submitted": "aggregated",
    "round.finalized": "aggregated",
    "round.validation_reported": "validated",
}


class StudyProgress:
    """The state shown: per round, per hospital, the last stage reached."""

    def __init__(self, study_id: str, hospitals: list[str], rounds: int) -> None:
        self.study_id = study_id
        self.hospitals = hospitals
        self.rounds = rounds
        self.cells: dict[tuple[int, str], str] = {}
        self.round_state: dict[int, str] = {}
        self.done = False
        self.lines: list[str] = []

    def apply(self, name: str, event: dict[str, Any]) -> str | None:
        """Fold one event in; return a line describing it (None for other studies)."""
        if event.get("study") != self.study_id:
            return None
        r, org = event.get("round"), event.get("org", "")
        short = org.removesuffix("MSP")
        if name == "round.opened":
            self.round_state[r] = "OPEN"
            for m in event.get("participants", []):
                self.cells[(r, m)] = "selected"
            agg = ", ".join(m.removesuffix("MSP") for m in event.get("committee", []))
            return f"round {r} opened by {short}: participants {len(event.get('participants', []))}, committee {agg}"
        if name in STAGES and r is not None:
            who = event.get("msp_id", org)
            self.cells[(r, who)] = STAGES[name]
            if name == "round.finalized":
                self.round_state[r] = "FINALIZED"
            extra = f" (gain {event['gain_ppm'] / 1e4:+.1f} points)" if "gain_ppm" in event else ""
            return f"round {r}: {who.removesuffix('MSP')} {STAGES[name]}{extra}"
        if name == "round.inputs_rejected":
            for m in event.get("failed", []):
                self.cells[(r, m)] = "input REJECTED (slashed)"
            then = "second reveal" if event.get("next") == "reveal" else "aborted"
            who = ", ".join(m.removesuffix("MSP") for m in event.get("failed", []))
            return f"round {r}: the committee's check finds the inputs of {who} are not their bound updates: {then}"
        if name == "round.advanced":
            self.round_state[r] = event.get("to", "?")
            if event.get("to") == "ABORTED" and r == self.rounds - 1:
                self.done = True
            return f"round {r}: {event.get('from')} -> {event.get('to')}"
        if name == "round.settled":
            self.round_state[r] = "SETTLED"
            if r == self.rounds - 1:
                self.done = True
            rewards = ", ".join(f"{m.removesuffix('MSP')} {v}" for m, v in sorted(event.get("rewards", {}).items()))
            return f"round {r} settled: rewards {rewards}"
        return f"{name} by {short}"

    def table(self) -> Table:
        t = Table(title=f"Study {self.study_id}: each hospital's part per round (from ledger events)")
        t.add_column("hospital")
        for r in range(self.rounds):
            t.add_column(f"round {r}: {self.round_state.get(r, '-')}")
        for m in self.hospitals:
            t.add_row(m.removesuffix("MSP"), *[self.cells.get((r, m), "") for r in range(self.rounds)])
        return t


def watch(
    gateway: Gateway,
    progress: StudyProgress,
    console: Console,
    from_block: int,
    alive: Callable[[], None] = lambda: None,
    timeout_s: float = 1800,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> None:
    """Follow events from ``from_block`` until the study's last round is settled (or aborted).
    ``alive`` is called twice a second and may raise (e.g. when an agent died)."""
    stream = gateway.network(CHANNEL).chaincode_events(CHAINCODE_NAME, Checkpoint(block_number=from_block))
    failure: list[BaseException] = []

    def guard() -> None:  # ends the stream if an agent dies or time runs out
        waited = 0.0
        while not progress.done and waited < timeout_s:
            try:
                alive()
            except BaseException as exc:  # noqa: BLE001 - reported by the caller
                failure.append(exc)
                break
            threading.Event().wait(0.5)
            waited += 0.5
        if not progress.done and not failure:
            failure.append(TimeoutError(f"study {progress.study_id} not finished after {timeout_s:.0f}s"))
        stream.close()

    threading.Thread(target=guard, daemon=True).start()
    live = (
        Live(progress.table(), console=console, refresh_per_second=4, transient=False) if console.is_terminal else None
    )
    if live:
        live.start()
    try:
        for ev in stream:
            payload = ev.json() or {}
            line = progress.apply(ev.name, payload)
            if line:
                console.print(f"  [dim]block {ev.block_number:>4}[/dim] {line}")
                if live:
                    live.update(progress.table())
            if on_event is not None:
                on_event(ev.name, payload)
            if progress.done:
                break
    finally:
        if live:
            live.stop()
        stream.close()
    if failure and not progress.done:
        raise failure[0]
    if not live:
        console.print(progress.table())
