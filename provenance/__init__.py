"""Provenance certificates: how a model was made, with the ledger's own evidence.

A certificate states facts about one model version (what it is, who trained it, how, on which
consented cohort, its lineage back to the initial model) and carries the transactions that
wrote each fact and the blocks that hold them. :mod:`provenance.verify` checks it offline
against nothing but the channel's configuration block: the hash chain, the orderers' block
signatures under the channel's block validation policy, every transaction's creator and
endorsement signatures under the channel's policies, and that each stated fact is exactly what
the committed write sets say. What that proves and what it assumes: docs/provenance.md.
"""
