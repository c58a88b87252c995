"""A small client for Kubo's RPC API (POST /api/v0/...).

``ipfshttpclient`` refuses Kubo > 0.7 and is unmaintained (../shared/STACK.md); the handful of
calls fedledger needs are plain HTTP: add (CIDv1, pinned), cat (with a size cap), pin/rm,
id and version. Errors name the call and carry Kubo's message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_MAX_BYTES = 512 * 1024 * 1024


class BlobStore(Protocol):
    """What fedledger needs of content-addressed storage: :class:`IPFSClient` on a hospital
    host, clients/memory.py's ``MemoryBlobStore`` in unit tests."""

    def add(self, data: bytes, pin: bool = True) -> str: ...
    def cat(self, cid: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes: ...
    def unpin(self, cid: str) -> None: ...


class IPFSError(RuntimeError):
    """A Kubo RPC call failed or returned something unexpected."""


@dataclass(frozen=True)
class IPFSClient:
    api: str  # e.g. "http://127.0.0.1:7136"
    timeout_s: float = 60.0

    def _post(self, path: str, params: dict[str, str] | None = None, body: bytes | None = None,
              content_type: str | None = None) -> bytes:  # fmt: skip
        url = f"{self.api}/api/v0/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, data=body or b"", method="POST")  # noqa: S310 - loopback API
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:  # noqa: S310
                return resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("Message", detail)
            except ValueError:
                pass
            raise IPFSError(f"ipfs {path} failed ({exc.code}): {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise IPFSError(f"ipfs {path}: cannot reach Kubo at {self.api}: {exc}") from None

    def version(self) -> str:
        return json.loads(self._post("version"))["Version"]

    def peer_id(self) -> str:
        return json.loads(self._post("id"))["ID"]

    def add(self, data: bytes, pin: bool = True) -> str:
        """Store ``data``; returns its CIDv1 (raw leaves)."""
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        raw = self._post(
            "add",
            {"cid-version": "1", "pin": str(pin).lower(), "quieter": "true"},
            body,
            f"multipart/form-data; boundary={boundary}",
        )
        result: Any = json.loads(raw.splitlines()[-1])
        if "Hash" not in result:
            raise IPFSError(f"ipfs add: unexpected answer {result}")
        return result["Hash"]

    def cat(self, cid: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        """Fetch the content of ``cid`` from this node or, over bitswap, from a peered node."""
        data = self._post("cat", {"arg": cid, "length": str(max_bytes + 1)})
        if len(data) > max_bytes:
            raise IPFSError(f"ipfs cat {cid}: content exceeds {max_bytes} bytes")
        return data

    def unpin(self, cid: str) -> None:
        self._post("pin/rm", {"arg": cid})
