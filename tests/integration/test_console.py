"""The compliance console on the real network, driven in headless Chromium (Debian's chromium,
through Playwright), after the secure study and the consent tests left their records.

* Every view renders with the ledger's data (the consortium, the studies, the study with its
  rounds and a timeline whose transactions carry their blocks, every hospital, the lineage
  graph, consent counts, search by transaction id, block and model hash, a certificate page
  that says Verified, the certificate file and the study's PDF report).
* A round opened while a page is open appears on it without a reload.
* Who is refused: no client certificate (403 saying why), a certificate from outside the
  channel (the TLS handshake fails), a peer's and another org's client identity (403); another
  org's admin reads.
* A crawl of every page reachable from the front page finds no DID, no pseudonym and no
  feature value of the demo's data.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Error, Page, sync_playwright

from clients.ledger import Compliance, Round
from demo.agent_study import StudyRun
from fedledger.console import stop_console
from network.admins import Admins
from network.consortium import LocalConsortium
from tests.integration import forgery
from tests.integration.test_governance_round import study_args

pytestmark = pytest.mark.integration
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def console_url(network: LocalConsortium, secure_study: StudyRun) -> Iterator[str]:
    port = _free_port()
    out = subprocess.run([sys.executable, "-m", "fedledger", "console", "--detach", "--state-dir",
                          str(network.state.root), "--port", str(port)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    yield f"https://127.0.0.1:{port}"
    assert stop_console(network.state.root)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _identity(net: LocalConsortium, org: str, user: str) -> dict[str, str]:
    msp = net.state.user_dir(net.org(org), user) / "msp"
    return {"certPath": str(next((msp / "signcerts").iterdir())), "keyPath": str(next((msp / "keystore").iterdir()))}


def _page(browser: Browser, url: str, identity: dict[str, str] | None) -> Page:
    certs = [{"origin": url, **identity}] if identity else []
    context = browser.new_context(ignore_https_errors=True, client_certificates=certs)  # type: ignore[list-item]
    return context.new_page()


def _open(page: Page, url: str, expect: int = 200) -> str:
    response = page.goto(url)
    assert response is not None and response.status == expect, (url, response and response.status)
    return page.content()


def test_every_view_renders_the_ledger_and_a_new_round_appears_live(browser: Browser, console_url: str,
                                                                      network: LocalConsortium,
                                                                      secure_study: StudyRun) -> None:  # fmt: skip
    page = _page(browser, console_url, _identity(network, "Regulator", "User1"))
    sid = secure_study.study_id
    html = _open(page, console_url + "/")
    assert "Consortium on channel fedledger" in html and "/Channel/Application/Endorsement" in html
    assert int(page.locator("#height").inner_text()) > 10
    for org in ("HospitalAMSP", "HospitalBMSP", "HospitalCMSP", "RegulatorMSP", "OrdererMSP"):
        assert org in html
    html = _open(page, console_url + "/studies")
    assert sid in html
    _open(page, f"{console_url}/studies/{sid}")
    assert page.locator("tr[id^=round-]").count() == 3
    rows = page.locator("#timeline tr")
    assert rows.count() > 20
    blocks = [t for t in page.locator("#timeline td:nth-child(5)").all_inner_texts() if t.strip()]
    assert len(blocks) == rows.count() - 1, "every logged transaction shows its block"
    _open(page, f"{console_url}/studies/{sid}/rounds/1")
    assert page.locator("#phases tr").count() >= 6  # KEYS .. FINALIZED, each with its block
    assert page.locator("#participants tr").count() == 4
    assert page.locator("#participants th", has_text="binding").count() == 1  # the study binds its inputs
    bindings = page.locator("#participants td:nth-child(6)").all_inner_texts()
    assert bindings.count("verified") == 3, bindings
    _open(page, f"{console_url}/studies/{sid}/lineage")
    assert page.locator("svg.lineage a").count() == 4  # initial model and three rounds, each linked
    for h in ("HospitalAMSP", "HospitalBMSP", "HospitalCMSP"):
        html = _open(page, f"{console_url}/hospitals/{h}")
        assert "Reputation over time" in html and "<polyline" in html and sid in html
    html = _open(page, console_url + "/consent")
    assert "Consent summary" in html
    with network.ledger("Regulator", "User1") as ledger:
        entry = ledger.evaluate(Compliance.study_timeline(sid))[-1]
        final = ledger.evaluate(Compliance.model_lineage(sid))["versions"][-1]["model_out"]["hash"]
    html = _open(page, f"{console_url}/search?q={entry['tx_id']}")
    assert "ENDORSER_TRANSACTION" in html and "VALID" in html
    block = page.locator("td a").first.inner_text()
    html = _open(page, f"{console_url}/search?q={block}")
    assert f"Block {block}" in html and entry["tx_id"][:16] in html
    html = _open(page, f"{console_url}/search?q={final}")
    assert "made in round 2 of" in html
    html = _open(page, f"{console_url}/certificate/{final}.html")
    assert "Verified" in page.locator("#verdict").inner_text()
    for path, magic in ((f"/certificate/{final}.json", b"{"), (f"/studies/{sid}/report.pdf", b"%PDF")):
        response = page.request.get(console_url + path)
        assert response.status == 200 and response.body().startswith(magic), path
    html = _open(page, f"{console_url}/studies/NO_SUCH", expect=400)
    assert "is not a valid study id" in html
    _open(page, f"{console_url}/studies/no-such-study", expect=404)

    # live: a new study's first round opens while the page is open
    _open(page, f"{console_url}/studies/{sid}")
    page.wait_for_function("document.getElementById('live-state').textContent.startsWith('new events')")
    live_sid = f"live-{uuid.uuid4().hex[:6]}"
    with Admins(network) as admins:
        admins.fund_and_stake(live_sid)
        admins.create_study({**study_args(live_sid), "aggregation": "trusted"})
        admins.tx("HospitalA", Round.open(live_sid))
    page.locator("#live li", has_text=f"round.opened · {live_sid} round 0").wait_for(timeout=30_000)


def test_only_readers_with_a_channel_identity_get_in(browser: Browser, console_url: str,
                                                     network: LocalConsortium, tmp_path: Path) -> None:  # fmt: skip
    page = _page(browser, console_url, None)
    _open(page, console_url + "/", expect=403)
    assert "no client certificate" in page.locator("#reason").inner_text()
    # a certificate the channel never issued: refused in the TLS handshake
    creator, key = forgery.outsider("RegulatorMSP")
    from fabric_protos.msp import identities_pb2

    (tmp_path / "cert.pem").write_bytes(identities_pb2.SerializedIdentity.FromString(creator).id_bytes)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))  # fmt: skip
    page = _page(browser, console_url, {"certPath": str(tmp_path / "cert.pem"), "keyPath": str(tmp_path / "key.pem")})
    with pytest.raises(Error):
        page.goto(console_url + "/")
    # a hospital's agent (client) identity and a peer's identity are members, but not readers
    page = _page(browser, console_url, _identity(network, "HospitalA", "User1"))
    _open(page, console_url + "/", expect=403)
    assert "only admins may read" in page.locator("#reason").inner_text()
    peer_msp = network.state.node_dir(network.topology.peer_of(network.org("HospitalB"))) / "msp"
    page = _page(browser, console_url, {"certPath": str(next((peer_msp / "signcerts").iterdir())),
                                        "keyPath": str(next((peer_msp / "keystore").iterdir()))})  # fmt: skip
    _open(page, console_url + "/", expect=403)
    assert "peer identity" in page.locator("#reason").inner_text()
    page = _page(browser, console_url, _identity(network, "HospitalC", "Admin"))
    assert "Consortium on channel" in _open(page, console_url + "/")


def test_no_page_shows_a_did_a_pseudonym_or_a_feature_value(browser: Browser, console_url: str,
                                                           network: LocalConsortium) -> None:  # fmt: skip
    page = _page(browser, console_url, _identity(network, "Regulator", "User1"))
    secrets = _demo_data_secrets(network.state.root / "demo-data")
    assert len(secrets) > 100
    seen, queue, pages = set(), ["/"], 0
    while queue and pages < 80:
        path = queue.pop(0)
        if path in seen or path.endswith((".pdf", ".json")) or path.startswith("/events"):
            continue
        seen.add(path)
        response = page.goto(console_url + path)
        assert response is not None and response.status < 500, path
        pages += 1
        text = page.content()
        assert "did:" not in text, path
        found = [s for s in secrets if s in text]
        assert not found, (path, found[:5])
        for href in page.locator("a[href^='/']").evaluate_all("els => els.map(e => e.getAttribute('href'))"):
            if href not in seen:
                queue.append(href)
    assert pages >= 15, seen


def _demo_data_secrets(folder: Path) -> set[str]:
    """Pseudonyms and distinctive feature values of every CSV of the demo's data."""
    out: set[str] = set()
    for csv in folder.rglob("*.csv"):
        table: Any = pd.read_csv(csv, dtype=str)
        for column in table.columns:
            values = table[column].dropna().astype(str)
            if "pseudonym" in column or "did" in column or values.str.contains("[a-zA-Z]").all():
                out |= {v for v in values if len(v) >= 6}
            else:
                out |= {v for v in values if re.fullmatch(r"-?\d+\.\d{4,}", v)}
    return out
