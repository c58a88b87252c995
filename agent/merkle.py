"""A binary SHA-256 Merkle tree over training-step leaves, with inclusion proofs.

Leaves and inner nodes are hashed with different prefixes (0x00 / 0x01, as in RFC 6962), so a
leaf can never be passed off as an inner node. An unpaired node at the end of a level is
promoted unchanged. The root goes on the ledger with the commitment; after the challenge the
hospital reveals each audited leaf with its path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF, NODE = b"\x00", b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


class MerkleTree:
    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.levels: list[list[bytes]] = [[leaf_hash(x) for x in leaves]]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            self.levels.append(nxt)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def __len__(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> list[tuple[str, bytes]]:
        """Sibling hashes from the leaf up, each tagged with the side it sits on."""
        if not 0 <= index < len(self):
            raise IndexError(f"leaf {index} out of range 0..{len(self) - 1}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(("left" if sibling < index else "right", level[sibling]))
            index //= 2
        return path


def verify(leaf: bytes, proof: Sequence[tuple[str, bytes]], root: bytes) -> bool:
    node = leaf_hash(leaf)
    for side, sibling in proof:
        node = node_hash(sibling, node) if side == "left" else node_hash(node, sibling)
    return node == root
