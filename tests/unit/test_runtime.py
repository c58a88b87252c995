"""The chaincode runtime: keys, canonical JSON, schemas, the router, and the shim protocol
driven by a scripted peer."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.peer import chaincode_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim
from hypothesis import given
from hypothesis import strategies as st

from chaincode.contracts.registry import RegistryContract
from chaincode.runtime import canonical, keys
from chaincode.runtime.contract import MAX_ARG_BYTES, Router
from chaincode.runtime.errors import InvalidArgument
from chaincode.runtime.handler import StreamHandler
from chaincode.runtime.proposal import decode_signed_proposal
from chaincode.runtime.schema import Int, Schema, Str
from chaincode.runtime.testing import InMemoryLedger, make_identity
from clients.fabric.identity import Signer
from clients.fabric.proposal import build_proposal
from tests.unit.helpers import gateway_identity

Msg = shim.ChaincodeMessage
text = st.text(alphabet=st.characters(blacklist_characters="\x00\U0010ffff", blacklist_categories=("Cs",)), max_size=12)


@given(object_type=text.filter(bool), attrs=st.lists(text, max_size=4))
def test_composite_keys_round_trip(object_type: str, attrs: list[str]) -> None:
    key = keys.create_composite_key(object_type, attrs)
    assert keys.split_composite_key(key) == (object_type, attrs)
    start, end = keys.partial_key_range(object_type, attrs[:1])
    assert start <= key < end


def test_composite_key_matches_fabric_go_encoding() -> None:
    # Go shim: "\x00" + objectType + "\x00" + each attribute + "\x00"
    assert keys.create_composite_key("org", ["HospitalAMSP"]) == "\x00org\x00HospitalAMSP\x00"
    with pytest.raises(InvalidArgument):
        keys.create_composite_key("org", ["bad\x00part"])


@given(st.recursive(st.none() | st.booleans() | st.integers() | text, lambda c: st.lists(c) | st.dictionaries(text, c)))
def test_canonical_json_is_stable(value: object) -> None:
    encoded = canonical.dumps(value)
    assert canonical.dumps(canonical.loads(encoded)) == encoded


def test_canonical_json_refuses_floats_and_nan() -> None:
    with pytest.raises(canonical.CanonicalJSONError):
        canonical.dumps({"eps": 0.5})
    for raw in (b'{"eps": 0.5}', b'{"x": NaN}', b'{"x": Infinity}'):
        with pytest.raises(canonical.CanonicalJSONError):
            canonical.loads(raw)
    assert canonical.dumps({"b": 1, "a": [True, None]}) == b'{"a":[true,null],"b":1}'


def test_schema_names_the_bad_field() -> None:
    schema = Schema({"name": Str(max_len=3), "n": Int(0, 5), "opt": Str(required=False, default="d")})
    assert schema.parse({"name": "abc", "n": 2}) == {"name": "abc", "n": 2, "opt": "d"}
    for raw, fragment in [
        ({"name": "abcd", "n": 1}, "name must be 1-3"),
        ({"name": "a", "n": 6}, "n must be between 0 and 5"),
        ({"name": "a", "n": True}, "n must be an integer"),
        ({"name": "a"}, "missing field: n"),
        ({"name": "a", "n": 1, "zz": 1}, "unknown field(s): zz"),
        ({"name": "a\x07", "n": 1}, "U+0007: control"),
        ([1, 2], "must be a JSON object"),
    ]:
        with pytest.raises(InvalidArgument, match=None) as info:
            schema.parse(raw)
        assert fragment in info.value.message


@pytest.mark.parametrize(
    ("raw_args", "status", "fragment"),
    [
        ([], 400, "no function name"),
        ([b"Registry:Nope"], 404, "unknown function"),
        ([b"Registry:Get", b"{broken"], 400, "not valid JSON"),
        ([b"Registry:Get", b'{"msp_id": 1.5}'], 400, "floats are not allowed"),
        ([b"Registry:Get", b"x" * (MAX_ARG_BYTES + 1)], 400, "the limit is"),
        ([b"Registry:Get", b"{}", b"extra"], 400, "at most 2 arguments"),
    ],
)
def test_router_refuses_malformed_invocations(raw_args: list[bytes], status: int, fragment: str) -> None:
    ledger = InMemoryLedger()
    res = ledger.invoke(Router([RegistryContract()]), make_identity("HospitalAMSP"), "", raw_args=raw_args)
    assert res.status == status and fragment in res.message


def test_router_turns_a_crash_into_an_error_not_data() -> None:
    class Crashing(RegistryContract):
        name = "Crash"

        def List(self, stub, args):
            raise RuntimeError("boom")

    Crashing.List.__fedledger_tx__ = RegistryContract.List.__fedledger_tx__  # type: ignore[attr-defined]
    res = InMemoryLedger().invoke(Router([Crashing()]), make_identity("HospitalAMSP"), "Crash:List")
    assert res.status == 500 and "boom" in res.message and res.payload == b""


def test_a_transaction_reads_its_own_writes_and_commits_them_once() -> None:
    """The stub's overlay: Fabric's peer alone would answer the second read with committed state."""
    from chaincode.runtime.contract import Contract, transaction

    class ReadOwnWrite(Contract):
        name = "T"

        @transaction()
        def Run(self, stub, args):
            stub.put_state("k", b"new")
            return {"seen": (stub.get_state("k") or b"").decode()}

    ledger = InMemoryLedger()
    router = Router([ReadOwnWrite()])
    assert ledger.invoke(router, make_identity("HospitalAMSP"), "T:Run").json() == {"seen": "new"}
    assert ledger.state[("", "k")] == b"new"


def test_proposal_built_by_the_client_decodes_in_the_runtime() -> None:
    identity, signer = gateway_identity("HospitalBMSP", "client")
    signed = build_proposal(identity, signer, "fedledger", "fedledger", [b"Registry:List"], {"secret": b"\x01\x02"})
    ctx = decode_signed_proposal(signed.proto, "fedledger", signed.tx_id)
    assert ctx.creator.msp_id == "HospitalBMSP"
    assert ctx.creator.node_ou == "client"
    assert ctx.transient == {"secret": b"\x01\x02"}
    assert ctx.timestamp_ms > 1_700_000_000_000


class ScriptedPeer:
    """The peer's side of the shim stream, answering ledger calls from a dict."""

    def __init__(self, state: dict[str, bytes]) -> None:
        self.state = state
        self.sent: queue.Queue[Msg] = queue.Queue()
        self.writes: list[shim.WriteRecord] = []
        self.handler: StreamHandler | None = None

    def on_chaincode_message(self, msg: Msg) -> None:
        self.sent.put(msg)
        if msg.type == Msg.GET_STATE:
            req = shim.GetState()
            req.ParseFromString(msg.payload)
            reply = Msg(
                type=Msg.RESPONSE, payload=self.state.get(req.key, b""), txid=msg.txid, channel_id=msg.channel_id
            )
            threading.Thread(target=self.handler.on_message, args=(reply,)).start()  # type: ignore[union-attr]
        elif msg.type == Msg.GET_STATE_BY_RANGE:
            reply = Msg(
                type=Msg.RESPONSE,
                payload=shim.QueryResponse().SerializeToString(),
                txid=msg.txid,
                channel_id=msg.channel_id,
            )
            threading.Thread(target=self.handler.on_message, args=(reply,)).start()  # type: ignore[union-attr]
        elif msg.type == Msg.WRITE_BATCH_STATE:
            batch = shim.WriteBatchState()
            batch.ParseFromString(msg.payload)
            self.writes.extend(batch.rec)
            reply = Msg(type=Msg.RESPONSE, txid=msg.txid, channel_id=msg.channel_id)
            threading.Thread(target=self.handler.on_message, args=(reply,)).start()  # type: ignore[union-attr]

    def next_of(self, wanted: int, timeout: float = 5) -> Msg:
        while True:
            msg = self.sent.get(timeout=timeout)
            if msg.type == wanted:
                return msg


def test_shim_protocol_register_transact_complete_with_event() -> None:
    peer = ScriptedPeer({})
    handler = StreamHandler(
        "fedledger_1.0:abc", Router([RegistryContract()]).invoke, peer.on_chaincode_message, ThreadPoolExecutor(4)
    )
    peer.handler = handler
    handler.register()
    reg = peer.next_of(Msg.REGISTER)
    cid = chaincode_pb2.ChaincodeID()
    cid.ParseFromString(reg.payload)
    assert cid.name == "fedledger_1.0:abc"
    handler.on_message(Msg(type=Msg.REGISTERED))
    params = chaincode_pb2.ChaincodeAdditionalParams(use_write_batch=True, max_size_write_batch=1000)
    handler.on_message(Msg(type=Msg.READY, payload=params.SerializeToString()))
    handler.on_message(Msg(type=Msg.KEEPALIVE))
    assert peer.next_of(Msg.KEEPALIVE).type == Msg.KEEPALIVE

    identity, signer = gateway_identity("HospitalAMSP", "admin")
    import base64
    import json

    args = {
        "msp_id": "HospitalAMSP",
        "display_name": "A",
        "share_key": base64.b64encode(b"k" * 32).decode(),
        "contact": "a@b.org",
    }
    signed = build_proposal(
        identity, signer, "fedledger", "fedledger", [b"Registry:Register", json.dumps(args).encode()]
    )
    tx_input = chaincode_pb2.ChaincodeInput(args=[b"Registry:Register", json.dumps(args).encode()])
    handler.on_message(
        Msg(
            type=Msg.TRANSACTION,
            payload=tx_input.SerializeToString(),
            txid=signed.tx_id,
            channel_id="fedledger",
            proposal=signed.proto,
        )
    )
    done = peer.next_of(Msg.COMPLETED)
    response = proposal_response_pb2.Response()
    response.ParseFromString(done.payload)
    assert response.status == 200, response.message
    assert done.chaincode_event.event_name == "registry.registered"
    assert done.chaincode_event.chaincode_id == "fedledger_1.0"
    assert [w.key for w in peer.writes] == ["\x00org\x00HospitalAMSP\x00"]

    # a refused call completes with an error status and sends no writes
    peer.writes.clear()
    other, other_signer = gateway_identity("HospitalBMSP", "admin")
    signed = build_proposal(
        other, other_signer, "fedledger", "fedledger", [b"Registry:Register", json.dumps(args).encode()]
    )
    handler.on_message(
        Msg(
            type=Msg.TRANSACTION,
            payload=tx_input.SerializeToString(),
            txid=signed.tx_id,
            channel_id="fedledger",
            proposal=signed.proto,
        )
    )
    done = peer.next_of(Msg.COMPLETED)
    response.ParseFromString(done.payload)
    assert response.status == 403 and "may not write the record of HospitalAMSP" in response.message
    assert peer.writes == []
    assert not done.HasField("chaincode_event")


def test_low_s_signatures() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = Signer(key)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    for i in range(64):
        message = f"message {i}".encode()
        sig = signer.sign(message)
        _, s = decode_dss_signature(sig)
        assert s <= n // 2
        key.public_key().verify(sig, message, ec.ECDSA(hashes.SHA256()))


def test_pagination_tokens_walk_all_keys_and_forbid_writes() -> None:
    from chaincode.contracts.diagnostics import DiagnosticsContract

    ledger = InMemoryLedger()
    router = Router([DiagnosticsContract()])
    caller = make_identity("HospitalAMSP", "client")
    assert ledger.invoke(router, caller, "Diagnostics:Fill", {"prefix": "p", "count": 7}).ok
    seen, token = [], ""
    while True:
        page = ledger.invoke(router, caller, "Diagnostics:Page", {"prefix": "p", "page_size": 3, "bookmark": token})
        assert page.ok, page.message
        seen += page.json()["items"]
        token = page.json()["bookmark"]
        if not token:
            break
    assert seen == list(range(7))
    bad = ledger.invoke(router, caller, "Diagnostics:Page", {"prefix": "p", "page_size": 3, "bookmark": "AAAA"})
    assert bad.status == 400


def test_fabric_ca_attributes_are_read_from_the_certificate() -> None:
    ident = make_identity("RegulatorMSP", "client", cn="u", attributes={"role": "compliance_officer"})
    assert ident.attribute("role") == "compliance_officer"
    assert ident.attribute("missing") is None
    assert ident.node_ou == "client" and ident.common_name == "u"
    assert ident.id.startswith("x509::CN=u,OU=client::")
