"""A read-only gateway call that finds its connection broken (UNAVAILABLE, e.g. the peer's host
was cut off and is back) is asked once more; any other failure, or a second UNAVAILABLE, is
the caller's to see."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from clients.fabric import service


class _Rpc(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def _calls(*outcomes: object) -> tuple[Callable[[], object], list[object]]:
    seen: list[object] = []

    def call() -> object:
        outcome = outcomes[len(seen)]
        seen.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return call, seen


def test_a_broken_connection_is_asked_once_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.time, "sleep", lambda _s: None)
    call, seen = _calls(_Rpc(grpc.StatusCode.UNAVAILABLE), "answer")
    assert service._once_more_if_unavailable(call) == "answer" and len(seen) == 2


def test_other_failures_and_a_second_unavailable_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.time, "sleep", lambda _s: None)
    call, seen = _calls(_Rpc(grpc.StatusCode.ABORTED), "never")
    with pytest.raises(grpc.RpcError):
        service._once_more_if_unavailable(call)
    assert len(seen) == 1
    call, seen = _calls(_Rpc(grpc.StatusCode.UNAVAILABLE), _Rpc(grpc.StatusCode.UNAVAILABLE), "never")
    with pytest.raises(grpc.RpcError):
        service._once_more_if_unavailable(call)
    assert len(seen) == 2
