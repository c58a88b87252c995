"""Provenance certificates of a real study, verified offline, and tampered with.

* Every model of the secure 3-round study (its initial model and each round's aggregate) gets a
  certificate through the Regulator's gateway peer; each verifies against the channel's
  configuration block alone, and the CLI's verify and render (HTML, PDF) agree.
* Tampering: every field of the statement changed in turn, a byte of a block changed, a cited
  transaction or a whole block dropped, a block re-signed with a key outside the channel, and a
  genuinely signed transaction carried over from another channel: each fails, naming what.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fabric_protos.common import common_pb2

from clients.ledger import Compliance, Study
from demo.agent_study import StudyRun
from fedledger.cli import cli
from network.consortium import LocalConsortium
from provenance import certificate
from provenance.blocks import link_of
from provenance.certificate import Certificate
from provenance.channel_config import ChannelTrust
from provenance.errors import Refused
from provenance.issue import channel_config_block, issue
from provenance.transactions import tx_id_of
from provenance.verify import verify
from tests.integration import forgery

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def issued(secure_study: StudyRun, network: LocalConsortium) -> tuple[dict[str, Certificate], bytes]:
    """A certificate for every model of the study, and the channel's configuration block."""
    sid = secure_study.study_id
    out = {}
    with network.ledger("Regulator", "User1") as ledger:
        initial = ledger.evaluate(Study.get(sid))["params"]["model_hash"]
        out["initial"] = issue(ledger, initial)
        for v in ledger.evaluate(Compliance.model_lineage(sid))["versions"]:
            out[f"round {v['round']}"] = issue(ledger, v["model_out"]["hash"])
        config = channel_config_block(ledger.network)
    return out, config


def test_every_model_of_the_study_has_a_certificate_that_verifies(issued: Any, network: LocalConsortium,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    certs, config = issued
    trust = ChannelTrust.from_block(config)
    assert list(certs) == ["initial", "round 0", "round 1", "round 2"]
    for name, cert in certs.items():
        done = verify(certificate.load(cert.dumps()), trust)  # through the file format
        assert len(done.checks) == 5, name
        assert all(f.endorsed_by for f in done.facts)
    final = certs["round 2"].statement
    assert [r["round"] for r in final["rounds"]] == [0, 1, 2]
    assert final["rounds"][0]["model_in"] == certs["initial"].statement["model"]["hash"]
    assert final["study"]["aggregation"] == "secure" and final["trained_by"]
    assert final["study"]["bound"] and final["study"]["update_norm_micro"] > 0  # each binding stated and cited
    for r in final["rounds"]:
        assert set(r["bindings"]) == set(r["contributors"]) and set(r["bindings"].values()) == {"verified"}
        assert r["input_checks"] == [{"stage": 1, "failed": []}]
    assert all(0 < e <= final["study"]["epsilon_budget_micro"] for e in final["epsilon_spent_micro"].values())
    # the command line: verify prints each check; render writes an HTML page and a PDF
    cert_file, config_file = tmp_path / "model.json", tmp_path / "config.block"
    certs["round 2"].save(cert_file)
    config_file.write_bytes(config)
    runner = CliRunner()
    result = runner.invoke(cli, ["certificate", "verify", str(cert_file), "--channel-config", str(config_file)])
    assert result.exit_code == 0 and result.output.count("  ok  ") == 5, result.output
    result = runner.invoke(cli, ["certificate", "render", str(cert_file), "--channel-config", str(config_file),
                                 "--html", str(tmp_path / "c.html"), "--pdf", str(tmp_path / "c.pdf")])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (tmp_path / "c.html").read_text()
    assert "Verified" in page and final["model"]["hash"] in page and "bound inputs" in page
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    # a tampered file: verify exits 1 naming the failure, render shows NOT verified
    doc = json.loads(cert_file.read_bytes())
    doc["statement"]["trained_by"] = ["SomeoneElseMSP"]
    cert_file.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["certificate", "verify", str(cert_file), "--channel-config", str(config_file)])
    assert result.exit_code == 1 and "NOT verified" in result.output and "trained_by" in result.output


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    if value is None:
        return 0
    return [*value, "x"] if isinstance(value, list) else {**value, "x": 1}


def _refused(cert: Certificate, trust: ChannelTrust) -> str:
    with pytest.raises(Refused) as info:
        verify(cert, trust)
    return str(info.value)


def test_every_changed_field_of_the_statement_fails_naming_it(issued: Any) -> None:
    certs, config = issued
    trust = ChannelTrust.from_block(config)
    base = certs["round 2"]
    paths = list(_leaves(base.statement))
    assert len(paths) > 60
    for path in paths:
        cert = copy.deepcopy(base)
        target = cert.statement
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = _changed(target[path[-1]])
        message = _refused(cert, trust)
        named = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        top = path[:2] == ("model", "hash") or path[:2] == ("model", "study") or path[:2] == ("model", "round")
        assert named in message or top, (path, message)


def test_changed_bytes_dropped_evidence_and_forged_signatures_fail(issued: Any, network: LocalConsortium) -> None:
    certs, config = issued
    trust = ChannelTrust.from_block(config)
    base = certs["round 2"]
    first, last = min(base.blocks), max(base.blocks)

    cert = copy.deepcopy(base)  # one byte of a transaction inside a block
    raw = bytearray(cert.blocks[first])
    raw[len(raw) // 2] ^= 0x01
    cert.blocks[first] = bytes(raw)
    message = _refused(cert, trust)
    assert "its transactions do not hash to its header's data hash" in message or "not a Fabric block" in message

    cert = copy.deepcopy(base)  # a cited transaction left out of the citations
    key = next(k for k in cert.writes if "rcommit" in k)
    del cert.writes[key]
    assert "no transaction in the certificate is cited for rcommit~" in _refused(cert, trust)

    cert = copy.deepcopy(base)  # a whole evidence block dropped (its header kept)
    middle = sorted(cert.blocks)[len(cert.blocks) // 2]
    del cert.blocks[middle]
    assert "is cited but is in none of the evidence blocks" in _refused(cert, trust)

    cert = copy.deepcopy(base)  # a header dropped from the chain
    cert.chain = [h for h in cert.chain if h.number != first + 1]
    assert f"block {first + 1} is missing" in _refused(cert, trust)

    cert = copy.deepcopy(base)  # the last block rewritten and re-signed by an orderer outside the channel
    block = common_pb2.Block.FromString(cert.blocks[last])
    block.data.data[0] = bytes(block.data.data[0]).replace(b'"FINALIZED"', b'"FINALIZEX"', 1)
    creator, key = forgery.outsider("OrdererMSP")
    forgery.sign_block(block, creator, key)
    cert.blocks[last] = block.SerializeToString()
    cert.chain[-1] = link_of(block)
    message = _refused(cert, trust)
    assert "orderer signatures do not satisfy /Channel/Orderer/BlockValidation" in message
    assert "not issued by a CA of OrdererMSP" in message

    # a transaction from another channel, signed by its genuine creator and endorsers, in a block
    # signed by a genuine orderer and chained on: refused for its channel
    cert = copy.deepcopy(base)
    first_cited = cert.writes[next(k for k in cert.writes if "rcommit" in k)]
    holder_number = next(n for n, b in cert.blocks.items() if first_cited in _tx_ids(b))
    holder = common_pb2.Block.FromString(cert.blocks[holder_number])
    moved = sorted(set(cert.writes.values()) & _tx_ids(cert.blocks[holder_number]))  # every cited one in it
    tip = common_pb2.Block.FromString(cert.blocks[last])
    forged = common_pb2.Block()
    forged.CopyFrom(tip)
    forged.header.number = last + 1
    forged.header.previous_hash = cert.chain[-1].hash
    del forged.data.data[:]
    for env in holder.data.data:
        if tx_id_of(bytes(env)) in moved:
            forged.data.data.append(forgery.on_channel(bytes(env), "otherchannel", network.state.root))
    forged.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = b"\x00" * len(moved)
    orderer = common_pb2.SignatureHeader.FromString(
        common_pb2.Metadata.FromString(tip.metadata.metadata[common_pb2.SIGNATURES]).signatures[0].signature_header
    ).creator
    forgery.sign_block(forged, orderer, forgery.key_of(network.state.root, orderer))
    del cert.blocks[holder_number]  # only the other channel's copies remain
    cert.blocks[last + 1] = forged.SerializeToString()
    cert.chain.append(link_of(forged))
    assert f"transaction {moved[0]} belongs to channel 'otherchannel', not 'fedledger'" in _refused(cert, trust)


def _tx_ids(raw: bytes) -> set[str]:
    return {tx_id_of(bytes(e)) for e in common_pb2.Block.FromString(raw).data.data}
