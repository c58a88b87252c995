"""Verifiable training: fixed-point step records, commitments and proofs (zk/ is the prover)."""
