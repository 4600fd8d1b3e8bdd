"""Identities the server issues to browsers, and the secret that signs them.

A browser's identity is a random id plus an HMAC of it under the server's secret, kept in an HttpOnly
cookie that the server sets (server.py). The client cannot choose one: a value without a valid signature
is ignored and a fresh identity is issued. Nothing is ever taken from the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

COOKIE_NAME = "layerlab_id"
SECRET_FILE = "secret.key"
_OWNER = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


def load_secret(home: Path) -> bytes:
    """The server's signing secret: `LAYERLAB_SECRET` if set, else `home/secret.key`, created on first use.

    Kept on disk so identities (and signed download links) survive a restart; readable by the server's
    user only.
    """
    configured = os.environ.get("LAYERLAB_SECRET", "").strip()
    if configured:
        return hashlib.sha256(configured.encode("utf-8")).digest()
    path = Path(home) / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    temporary = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(secret.hex())
    try:
        os.link(temporary, path)  # the first server process to get here wins; others read its secret
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def _signature(secret: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(secret, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii").rstrip("=")


def issue_identity(secret: bytes) -> str:
    """A new cookie value: `<owner>.<signature>` with a 144-bit random owner id."""
    owner = secrets.token_urlsafe(18)
    return f"{owner}.{_signature(secret, 'identity', owner)}"


def verify_identity(secret: bytes, cookie: str | None) -> str | None:
    """The owner id in a cookie value the server issued, or None for anything else (missing, forged)."""
    if not cookie or cookie.count(".") != 1:
        return None
    owner, signature = cookie.split(".")
    if not _OWNER.match(owner):
        return None
    if not hmac.compare_digest(signature, _signature(secret, "identity", owner)):
        return None
    return owner


def owner_for_user(secret: bytes, subject: str) -> str:
    """A stable owner id for a signed-in (OIDC) user: the same person gets the same runs on any device."""
    return "u" + _signature(secret, "user", subject)


def sign(secret: bytes, purpose: str, value: str) -> str:
    """A signature for `value` (download links and similar server-issued tokens)."""
    return _signature(secret, purpose, value)


def signature_matches(secret: bytes, purpose: str, value: str, signature: str) -> bool:
    return hmac.compare_digest(signature, _signature(secret, purpose, value))
