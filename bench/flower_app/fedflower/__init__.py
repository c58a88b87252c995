"""The Flower app of `fedledger bench peer` (runs in Flower's own virtualenv)."""
