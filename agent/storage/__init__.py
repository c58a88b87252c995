"""Off-chain storage: a Kubo RPC client and encrypted artifacts with crypto-shredding."""
