"""Genuine consent credentials and revocations for the hostile-input phases (a test signer).

The hostile run mutates genuine values to reach the consent contract's JSON-LD verification;
this adapter gives the phase builder (chaincode/hostile/phases.py) what it asks of a
:class:`~chaincode.hostile.phases.ConsentIssuer`, from chaincode/hostile/vc_signer.py.
"""

from __future__ import annotations

import json
from typing import Any

from chaincode.contracts import consent_vc
from chaincode.hostile.vc_signer import Patient


class VcIssuer:
    """Issues each credential from a new patient and remembers it for its revocation."""

    def __init__(self) -> None:
        self._issued: dict[str, tuple[Patient, dict[str, Any]]] = {}

    def credential(self, grantee: str) -> bytes:
        patient = Patient()
        vc = patient.consent(grantee=grantee)
        self._issued[consent_vc.credential_id(vc)] = (patient, vc)
        return json.dumps(vc).encode()

    def revocation(self, consent_id: str) -> bytes:
        patient, vc = self._issued[consent_id]
        return patient.revocation(consent_id, consent_vc.revocation_key(vc)).encode()
