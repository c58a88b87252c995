"""The one error of this package: a certificate, block or configuration that does not hold up,
with a message naming what failed."""


class Refused(Exception):
    """What was checked and why it failed (the CLI prints it; nothing else is thrown)."""
