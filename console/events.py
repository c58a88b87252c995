"""The org's chaincode event stream, read once and shared.

A background thread follows the stream from block 0 (every governance transaction logs an
event), so the console knows in which block each logged transaction landed and the highest
block it has seen; pages subscribe to new events for live updates (server-sent events). After
a broken stream it reconnects from the block it had reached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clients.fabric import ChaincodeEventStream, Checkpoint, GatewayError

log = logging.getLogger(__name__)
RECENT = 200
MAX_SUBSCRIBERS = 200  # open live pages; a member cannot hold the console's memory with more


class TooManySubscribers(Exception):
    """Every live slot is taken (the page is refused with 503 and may retry)."""


@dataclass(frozen=True)
class LedgerEvent:
    block: int
    tx_id: str
    name: str
    org: str
    study: str | None
    round: int | None

    def json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


class EventHub:
    """Follows ``open_stream(checkpoint)`` on a thread; ``subscribe`` gives an asyncio queue of
    new events for one page, ``block_of`` the block of a logged transaction."""

    def __init__(self, open_stream: Callable[[Checkpoint], ChaincodeEventStream]) -> None:
        self._open = open_stream
        self._lock = threading.Lock()
        self._blocks: dict[str, int] = {}
        self._recent: deque[LedgerEvent] = deque(maxlen=RECENT)
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[LedgerEvent]]] = set()
        self._stop = threading.Event()
        self._stream: ChaincodeEventStream | None = None
        self.height = 0  # one past the highest block whose events were read
        self._thread = threading.Thread(target=self._run, name="ledger-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.close()

    def block_of(self, tx_id: str) -> int | None:
        with self._lock:
            return self._blocks.get(tx_id)

    def recent(self) -> list[LedgerEvent]:
        with self._lock:
            return list(reversed(self._recent))

    def subscribe(self) -> asyncio.Queue[LedgerEvent]:
        queue: asyncio.Queue[LedgerEvent] = asyncio.Queue(maxsize=1000)
        with self._lock:
            if len(self._subscribers) >= MAX_SUBSCRIBERS:
                raise TooManySubscribers(f"{MAX_SUBSCRIBERS} live pages are open; try again later")
            self._subscribers.add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LedgerEvent]) -> None:
        with self._lock:
            self._subscribers = {(lp, q) for lp, q in self._subscribers if q is not queue}

    def _run(self) -> None:
        checkpoint = Checkpoint(block_number=0)
        while not self._stop.is_set():
            try:
                self._stream = self._open(checkpoint)
                for ev in self._stream:
                    self._publish(_event(ev.block_number, ev.tx_id, ev.name, ev.payload))
                    if self._stop.is_set():
                        return
            except GatewayError as exc:
                log.warning("chaincode event stream broke (%s); reconnecting from block %s", exc,
                            checkpoint.block_number)  # fmt: skip
            except Exception:  # the hub must outlive any one broken stream: say why, go on
                log.exception("reading the chaincode event stream failed; reconnecting from block %s",
                              checkpoint.block_number)  # fmt: skip
            if not self._stop.is_set():
                time.sleep(1.0)

    def _publish(self, event: LedgerEvent) -> None:
        with self._lock:
            self._blocks[event.tx_id] = event.block
            self.height = max(self.height, event.block + 1)
            self._recent.append(event)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            loop.call_soon_threadsafe(_offer, queue, event)


def _offer(queue: asyncio.Queue[LedgerEvent], event: LedgerEvent) -> None:
    if not queue.full():  # a page that stopped reading loses old updates, never blocks the hub
        queue.put_nowait(event)


def _event(block: int, tx_id: str, name: str, payload: bytes) -> LedgerEvent:
    try:
        body: Any = json.loads(payload) if payload else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    rnd = body.get("round")
    return LedgerEvent(block, tx_id, name, str(body.get("org", "")), body.get("study") if isinstance(
        body.get("study"), str) else None, rnd if isinstance(rnd, int) else None)  # fmt: skip
