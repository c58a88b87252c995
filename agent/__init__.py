"""The hospital agent: gateway client, local training, proofs, aggregation, storage."""
