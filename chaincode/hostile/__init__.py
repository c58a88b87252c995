"""Hostile calls against the router, and the checks that none of them hurts the ledger.

Every member org's client may be an attacker. This package generates calls the way one would
drive the chaincode (every entry point the router exposes, hostile arguments per parameter
kind, raw bytes, transient data, every caller role, every round phase) and checks each outcome
on the in-memory ledger: a 2xx/4xx status, no trace of a refusal, no write from a query, the
ledger's invariants. The test suite (tests/unit/test_hostile_inputs.py) and the benchmark
(``fedledger bench hostile``) both use it; a test-only credential signer lives here too.
"""
