"""Hospital data: loading records against a schema, and the demo's non-IID split."""
