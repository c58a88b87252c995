"""The ledger client's catalog (clients/ledger) against the chaincode it calls: every builder
names a transaction the router serves, sends only argument keys its schema accepts and every
key it requires, and every transaction has a builder. A renamed function or argument on either
side fails here, not on a real network."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chaincode.contracts import all_contracts
from chaincode.runtime.contract import Router, TransactionSpec
from clients.ledger import Call, LedgerClient, Registry, Round, Study, calls, shapes


@pytest.fixture(scope="module")
def specs() -> dict[str, TransactionSpec]:
    """Every transaction of the chaincode, test networks' contracts included, as the router serves it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEDLEDGER_TEST_CONTRACTS", "1")
        contracts = all_contracts()
    router = Router(contracts)
    out = {f"{c.name}:{name}": spec for c in contracts for name, (spec, _) in c.transactions().items()}
    assert sorted(out) == router.functions
    return out


def builders() -> Iterator[tuple[str, Callable[..., Call]]]:
    for namespace in calls.CONTRACTS:
        for attr, member in vars(namespace).items():
            if isinstance(member, staticmethod):
                yield f"{namespace.__name__}.{attr}", getattr(namespace, attr)


def _sample(hint: Any, everything: bool) -> Any:
    """A value of type ``hint``: only its keys matter here. For a TypedDict, all its keys
    (``everything``) or only the required ones."""
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint)
        keys = hint.__required_keys__ | (hint.__optional_keys__ if everything else frozenset())
        return {k: _sample(hints[k], everything) for k in keys}
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return _sample(options[0], everything)
    origin = typing.get_origin(hint) or hint
    return {str: "x", int: 1, bytes: b"x", list: [], dict: {}}.get(origin, "x")


def invoke(builder: Callable[..., Call], everything: bool) -> Call:
    """Call ``builder`` with every parameter (``everything``) or with the required ones only."""
    hints = typing.get_type_hints(builder)
    kwargs = {}
    for name, param in inspect.signature(builder).parameters.items():
        if param.default is inspect.Parameter.empty or everything:
            kwargs[name] = _sample(hints[name], everything)
    return builder(**kwargs)


def test_every_builder_names_a_transaction_and_every_transaction_has_a_builder(
    specs: dict[str, TransactionSpec],
) -> None:
    built = {name: invoke(builder, everything=True).name for name, builder in builders()}
    unknown = {b: call for b, call in built.items() if call not in specs}
    assert not unknown, f"builders of transactions the chaincode does not serve: {unknown}"
    assert sorted(set(specs) - set(built.values())) == [], "transactions without a builder in clients/ledger/calls.py"
    assert len(set(built.values())) == len(built), "two builders for one transaction"


@pytest.mark.parametrize(("name", "builder"), list(builders()), ids=[n for n, _ in builders()])
def test_a_builder_sends_the_keys_its_transaction_accepts_and_requires(
    specs: dict[str, TransactionSpec], name: str, builder: Callable[..., Call]
) -> None:
    full, minimal = invoke(builder, everything=True), invoke(builder, everything=False)
    fields = specs[full.name].schema.fields
    required = {k for k, f in fields.items() if f.required}
    sent = set(full.args or {})
    assert sent <= set(fields), f"{name} sends {sorted(sent - set(fields))}, which {full.name} does not accept"
    assert sent == set(fields), f"{name} cannot send {sorted(set(fields) - sent)}, which {full.name} accepts"
    missing = required - set(minimal.args or {})
    assert not missing, f"{name} may leave out {sorted(missing)}, which {full.name} requires"


@pytest.mark.parametrize("shape", [shapes.StudyParams, shapes.CommitArgs, shapes.PublishKeysArgs, shapes.SharesArgs,
                                   shapes.ProofArgs])  # fmt: skip
def test_an_argument_bundle_marks_required_what_its_schema_requires(
    specs: dict[str, TransactionSpec], shape: Any
) -> None:
    function = {"StudyParams": "Study:Propose", "CommitArgs": "Round:Commit", "PublishKeysArgs": "Round:PublishKeys",
                "SharesArgs": "Round:SubmitShares", "ProofArgs": "Round:SubmitProof"}[shape.__name__]  # fmt: skip
    fields = specs[function].schema.fields
    assert shape.__required_keys__ == {k for k, f in fields.items() if f.required}
    assert shape.__optional_keys__ == {k for k, f in fields.items() if not f.required}


def test_optional_arguments_left_out_are_not_sent() -> None:
    assert Round.submit_aggregate("s", 0, "cid", "h").args == {"study_id": "s", "round": 0, "model_cid": "cid",
                                                                "model_hash": "h"}  # fmt: skip
    assert Round.submit_aggregate("s", 0, "cid", "h", excluded=[]).args["excluded"] == []
    assert calls.Consent.list("HospitalAMSP", "s", bookmark="").args == {"grantee": "HospitalAMSP", "purpose": "s",
                                                                           "bookmark": ""}  # fmt: skip
    assert Study.list().args is None and Study.list().name == "Study:List"


class _Contract:
    """The Gateway client's contract, recording what it is asked to send."""

    def __init__(self, name: str, sent: list[tuple[Any, ...]]) -> None:
        self.name, self.sent = name, sent

    def evaluate(self, function: str, arg: Any, *, target_orgs: Any = ()) -> Any:
        self.sent.append(("evaluate", self.name, function, arg, tuple(target_orgs)))
        return {"ok": True}

    def submit(self, function: str, arg: Any, **kw: Any) -> str:
        self.sent.append(("submit", self.name, function, arg, kw["transient"], tuple(kw["endorsing_orgs"])))
        return "result"


class _Network:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.opened: list[tuple[str, str]] = []

    def contract(self, chaincode: str, name: str) -> _Contract:
        self.opened.append((chaincode, name))
        return _Contract(name, self.sent)


def test_the_client_sends_a_call_to_its_contract() -> None:
    net = _Network()
    ledger = LedgerClient(net, "fedledger")  # type: ignore[arg-type]
    assert ledger.evaluate(Registry.get("HospitalAMSP"), target_orgs=["RegulatorMSP"]) == {"ok": True}
    ledger.evaluate(Registry.list())
    ledger.submit(calls.Consent.register(b"{}"), endorsing_orgs=["HospitalAMSP"])
    ledger.submit(calls.Consent.revoke("c1", "jws"), transient={"extra": b"1"})
    assert net.sent == [
        ("evaluate", "Registry", "Get", {"msp_id": "HospitalAMSP"}, ("RegulatorMSP",)),
        ("evaluate", "Registry", "List", None, ()),
        ("submit", "Consent", "Register", {}, {"credential": b"{}"}, ("HospitalAMSP",)),
        ("submit", "Consent", "Revoke", {"consent_id": "c1"}, {"revocation": b"jws", "extra": b"1"}, ()),
    ]
    assert net.opened == [("fedledger", "Registry"), ("fedledger", "Consent")]  # one handle per contract
