"""Key wrapping to a registry share key."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.keys import public_b64
from agent.storage.keywrap import KeyWrapError, unwrap, wrap


def test_only_the_recipient_opens_it_in_its_context() -> None:
    bob, eve = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    key = os.urandom(32)
    blob = wrap(key, public_b64(bob), "s1/r0/update-of-A")
    assert unwrap(blob, bob, "s1/r0/update-of-A") == key
    with pytest.raises(KeyWrapError):
        unwrap(blob, eve, "s1/r0/update-of-A")
    with pytest.raises(KeyWrapError):
        unwrap(blob, bob, "s1/r1/update-of-A")  # replayed for another artifact
    with pytest.raises(KeyWrapError):
        unwrap(blob[:-1] + bytes([blob[-1] ^ 1]), bob, "s1/r0/update-of-A")
    assert wrap(key, public_b64(bob), "c") != wrap(key, public_b64(bob), "c")  # fresh ephemeral key each time
