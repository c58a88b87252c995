"""Patient consent: ACA-Py agents, consent credentials, the training gate, erasure."""
