"""The registry on the real network: bring-up, writes by each org, refusals, events,
crash recovery of a peer, MVCC retries. One network for the whole module (session fixture)."""

from __future__ import annotations

import base64
import os
import threading
import time

import pytest

from clients.fabric import Checkpoint, GatewayError
from clients.ledger import Registry
from network import channel, lifecycle
from network.consortium import LocalConsortium
from network.topology import CHAINCODE_NAME, CHANNEL

pytestmark = pytest.mark.integration


def share_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def entry(msp_id: str, name: str | None = None) -> dict[str, str]:
    return {
        "msp_id": msp_id,
        "display_name": name or f"{msp_id} test hospital",
        "share_key": share_key(),
        "contact": f"ops@{msp_id.lower()}.example.org",
    }


def heights(net: LocalConsortium) -> dict[str, int]:
    return {o.name: channel.peer_height(net.topology, net.state, o) for o in net.topology.peer_orgs}


def registered(net: LocalConsortium, org: str) -> str | None:
    """Register ``org`` unless it already is; returns the registration's tx id."""
    with net.ledger(org) as ledger:
        try:
            return ledger.submit(Registry.register(**entry(net.org(org).msp_id))).tx_id
        except GatewayError as exc:
            assert exc.chaincode_status == 409, exc
            return None


def committed_everywhere(net: LocalConsortium, tx_ids: list[str | None]) -> None:
    """Wait until every peer committed these transactions (peers commit blocks independently)."""
    for o in net.topology.peer_orgs:
        with net.ledger(o.name, "User1") as ledger:
            for tx_id in filter(None, tx_ids):
                ledger.wait_for_commit(tx_id)


def test_bring_up_gives_a_healthy_consortium(network: LocalConsortium) -> None:
    statuses = network.status()
    assert len(statuses) == 3 + 4 + 4 + 3 + 4  # orderers, peers, chaincode services, IPFS daemons, ACA-Py agents
    assert sorted(s.name for s in statuses if s.kind == "aries") == [
        "aries.hospitala",
        "aries.hospitalb",
        "aries.hospitalc",
        "aries.patients",
    ]
    assert all(s.healthy for s in statuses), [s for s in statuses if not s.healthy]
    sequence = network.state.read_manifest()["chaincode"]["sequence"]  # 1, or more after an upgrade test
    assert sequence >= 1
    for org in network.topology.peer_orgs:
        assert channel.list_channels(network.topology, network.state, org) == [CHANNEL]
        assert lifecycle.committed_sequence(network.topology, network.state, org) == sequence
    for orderer in network.topology.orderers:
        info = channel.orderer_channel_status(network.state, orderer)
        assert info.get("status") == "active" and info.get("consensusRelation") == "consenter"


def test_each_hospital_registers_and_every_peer_agrees(network: LocalConsortium) -> None:
    committed_everywhere(network, [registered(network, org.name) for org in network.topology.hospitals])
    # every org's peer answers the same registry (queries pinned to that org's peer)
    with network.ledger("Regulator", "User1") as reader:
        views = {o.msp_id: reader.evaluate(Registry.list(), target_orgs=[o.msp_id]) for o in network.topology.peer_orgs}
    first = next(iter(views.values()))
    assert {e["msp_id"] for e in first} >= {o.msp_id for o in network.topology.hospitals}
    assert all(v == first for v in views.values())


@pytest.mark.parametrize(
    ("caller_org", "user", "target", "status", "fragment"),
    [
        ("HospitalB", "Admin", "HospitalAMSP", 403, "HospitalBMSP may not write the record of HospitalAMSP"),
        ("Regulator", "Admin", "RegulatorMSP", 403, "read-only regulator"),
        ("HospitalA", "User1", "HospitalAMSP", 403, "only an admin of HospitalAMSP"),
    ],
)
def test_wrong_caller_is_refused_and_nothing_changes(
    network: LocalConsortium, caller_org: str, user: str, target: str, status: int, fragment: str
) -> None:
    registered(network, "HospitalA")
    with network.ledger("Regulator", "User1") as reader, network.ledger(caller_org, user) as caller:
        before_list = reader.evaluate(Registry.list())
        before_heights = heights(network)
        with pytest.raises(GatewayError) as info:
            caller.submit(Registry.update(**entry(target, "hijacked")))
        assert info.value.chaincode_status == status
        assert fragment in str(info.value)
        # every endorsing peer's refusal is reported with its address and org
        assert all(d.address and d.msp_id for d in info.value.details)
        assert reader.evaluate(Registry.list()) == before_list
    assert heights(network) == before_heights


def test_malformed_arguments_are_refused(network: LocalConsortium) -> None:
    with network.ledger("HospitalA") as ledger:
        contract = ledger.contract(Registry.NAME)  # raw arguments, which the catalog cannot build
        for bad, fragment in [
            ({**entry("HospitalAMSP"), "share_key": "short"}, "share_key"),
            ({**entry("HospitalAMSP"), "display_name": "x" * 5000}, "display_name"),
            (b"{not json", "not valid JSON"),
            (b"x" * (300 * 1024), "limit"),
        ]:
            with pytest.raises(GatewayError) as info:
                contract.submit("Update", bad)
            assert info.value.chaincode_status == 400, info.value
            assert fragment in str(info.value)


def test_events_arrive_and_resume_from_checkpoint(network: LocalConsortium) -> None:
    registered(network, "HospitalC")
    start_height = heights(network)["HospitalC"]
    checkpoint = Checkpoint(block_number=start_height)
    received = []
    with network.ledger("HospitalC") as ledger:
        stream = ledger.network.chaincode_events(CHAINCODE_NAME, checkpoint)

        def consume() -> None:
            for event in stream:
                received.append(event)
                if len(received) == 2:
                    return

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        first = ledger.submit(Registry.update(**entry("HospitalCMSP", "C v-next")))
        second = ledger.submit(Registry.update(**entry("HospitalCMSP", "C v-next-next")))
        reader.join(timeout=30)
        stream.close()
        assert [e.tx_id for e in received] == [first.tx_id, second.tx_id]
        assert received[0].name == "registry.updated"
        assert received[1].json()["version"] == received[0].json()["version"] + 1
        # resume after the first event: only the second arrives again, nothing is repeated
        resumed = ledger.network.chaincode_events(CHAINCODE_NAME, Checkpoint(received[0].block_number, first.tx_id))
        got = next(iter(resumed))
        resumed.close()
        assert got.tx_id == second.tx_id


def test_concurrent_updates_of_one_key_are_retried_not_lost(network: LocalConsortium) -> None:
    registered(network, "HospitalB")
    with network.ledger("HospitalB") as ledger:
        version_before = ledger.evaluate(Registry.get("HospitalBMSP"))["version"]
        results: list = []
        errors: list = []

        def update(i: int) -> None:
            try:
                results.append(
                    ledger.submit(Registry.update(**entry("HospitalBMSP", f"B concurrent {i}")), max_attempts=10)
                )
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=update, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        after = ledger.evaluate(Registry.get("HospitalBMSP"))
    assert after["version"] == version_before + 6
    assert any(r.attempts > 1 for r in results), "expected at least one MVCC conflict to be retried"


def test_killed_peer_restarts_and_catches_up(network: LocalConsortium) -> None:
    registered(network, "HospitalA")
    assert network.kill("peer0.hospitalc")
    with network.ledger("HospitalA") as ledger:
        # MAJORITY (3 of 4 orgs) still holds without HospitalC's peer
        for i in range(3):
            ledger.submit(Registry.update(**entry("HospitalAMSP", f"A while C is down {i}")))
    network.restart("peer0.hospitalc")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        h = heights(network)
        if len(set(h.values())) == 1:
            break
        time.sleep(0.5)
    assert len(set(h.values())) == 1, f"heights differ after restart: {h}"
    with network.ledger("Regulator", "User1") as reader:
        # the other peers' gateways learn through gossip that C is back, within seconds
        deadline = time.monotonic() + 30
        while True:
            try:
                on_c = reader.evaluate(Registry.get("HospitalAMSP"), target_orgs=["HospitalCMSP"])
                break
            except GatewayError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        on_a = reader.evaluate(Registry.get("HospitalAMSP"), target_orgs=["HospitalAMSP"])
    assert on_c == on_a and on_c["display_name"] == "A while C is down 2"
    network.wait_endorsable()


def test_history_is_visible_to_the_regulator(network: LocalConsortium) -> None:
    registered(network, "HospitalA")
    with network.ledger("HospitalA") as ledger:
        written = ledger.submit(Registry.update(**entry("HospitalAMSP", "A historic")))
    with network.ledger("Regulator", "User1") as reader:
        reader.wait_for_commit(written.tx_id)  # the Regulator reads its own peer
        history = reader.evaluate(Registry.history("HospitalAMSP"))
    versions = [h["entry"]["version"] for h in history]
    assert versions == sorted(versions) and versions[0] == 1
    assert history[-1]["entry"]["display_name"] == "A historic"


def test_replayed_transaction_is_rejected_and_changes_nothing(network: LocalConsortium) -> None:
    registered(network, "HospitalA")
    with network.ledger("HospitalA") as ledger:
        tx = ledger.endorse(Registry.update(**entry("HospitalAMSP", "A once")))
        code, first_block = tx.submit().status()
        assert code == 0
        version = ledger.evaluate(Registry.get("HospitalAMSP"))["version"]
        # the very same signed envelope sent again must not apply a second time: peers mark the
        # duplicate tx id invalid. A later write is committed after it and proves it was seen.
        try:
            tx.submit()
        except GatewayError:
            pass  # refusing it at the door is fine too
        later = ledger.submit(Registry.update(**entry("HospitalAMSP", "A later")))
        assert later.block_number > first_block
        after = ledger.evaluate(Registry.get("HospitalAMSP"))
    assert after["version"] == version + 1 and after["display_name"] == "A later"
