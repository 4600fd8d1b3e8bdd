"""Signed download links: a run's files go to the browser straight from disk, never through Streamlit.

`download_url` issues a link to one file of a run; server.py's `GET /layerlab/download/{token}` calls
`resolve_download` and streams the file. The token carries the run, the file's path inside the run folder,
the name the browser saves it under, the owner and an expiry, signed with the server's secret, so a link
cannot be forged or edited and stops working when it expires or when its run is gone or not its owner's.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path, PurePosixPath

from core.config import load_settings
from core.errors import RunNotFoundError
from core.run_store import RunStore
from core.shared_mode.identity import load_secret, sign, signature_matches

DOWNLOAD_PATH = "/layerlab/download/"
PURPOSE = "download"
# One message for every failure: a link that was forged, edited, expired or points at someone else's run
# must not tell which of these it was.
NOT_FOUND = "This download link is not valid any more. Open the Download page again to get a fresh link."


def download_url(
    owner: str | None,
    run_id: str,
    relative_path: str,
    *,
    file_name: str,
    ttl_s: int = 3600,
    browser: str | None = None,
) -> str:
    """A relative URL that downloads `relative_path` of the run `run_id` as `file_name` for `ttl_s` seconds.

    Args:
        owner: the session's owner id (checked against the run's owner in shared mode), None in single-user
            mode.
        run_id: the run whose folder holds the file.
        relative_path: the file's path inside the run folder, with "/" separators (e.g. "exports/onnx.zip").
        file_name: the name the browser saves the file under.
        ttl_s: seconds the link stays valid.
        browser: the identity in the browser's signed cookie; when given, the link works only in that browser
            (a copied or leaked link is "not found" anywhere else).

    Example:

    ```python
    url = download_url(owner, run_id, "model.keras", file_name="layerlab_2c09de.keras")
    st.link_button("Model", url)
    ```
    """
    if _unsafe(relative_path):
        raise ValueError(
            f"`relative_path` must be a path inside the run folder, without '..'. Received: {relative_path!r}"
        )
    if ttl_s < 1:
        raise ValueError(f"`ttl_s` must be at least 1 second. Received: {ttl_s}")
    claims = {
        "run": run_id,
        "path": relative_path,
        "name": file_name,
        "owner": owner,
        "browser": browser,
        "expires": int(time.time()) + int(ttl_s),
    }
    raw = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    payload = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    signature = sign(_secret(), PURPOSE, payload)
    return f"{DOWNLOAD_PATH}{payload}.{signature}"


def resolve_download(token: str, *, now: float | None = None, browser: str | None = None) -> tuple[Path, str]:
    """The file a link's token names and the name to save it under, after every check.

    Checks the signature (in constant time), the expiry, that the path stays inside the run folder, that
    the run is visible to the link's owner (shared mode) and that the file is a regular file.

    Raises:
        RunNotFoundError: for any failure, always with the same message.
    """
    claims = _verified_claims(token)
    if (time.time() if now is None else now) >= claims["expires"]:
        raise RunNotFoundError(NOT_FOUND)
    if claims.get("browser") is not None and claims["browser"] != browser:
        raise RunNotFoundError(NOT_FOUND)
    settings = load_settings()
    owner = claims["owner"]
    if settings.shared and owner is None:
        raise RunNotFoundError(NOT_FOUND)
    try:
        run_dir = RunStore(settings.runs_dir, owner=owner if settings.shared else None).path(claims["run"])
    except RunNotFoundError:
        raise RunNotFoundError(NOT_FOUND) from None
    run_dir = run_dir.resolve()
    path = (run_dir / claims["path"]).resolve()
    if not path.is_relative_to(run_dir) or path == run_dir:
        raise RunNotFoundError(NOT_FOUND)
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = False
    if not regular:
        raise RunNotFoundError(NOT_FOUND)
    return path, claims["name"]


def _verified_claims(token: str) -> dict:
    if not isinstance(token, str) or token.count(".") != 1:
        raise RunNotFoundError(NOT_FOUND)
    payload, signature = token.split(".")
    if not payload or not signature_matches(_secret(), PURPOSE, payload, signature):
        raise RunNotFoundError(NOT_FOUND)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        raise RunNotFoundError(NOT_FOUND) from None
    valid = (
        isinstance(claims, dict)
        and all(isinstance(claims.get(key), str) for key in ("run", "path", "name"))
        and isinstance(claims.get("owner"), str | None)
        and isinstance(claims.get("browser"), str | None)
        and isinstance(claims.get("expires"), int)
    )
    if not valid or _unsafe(claims["path"]):
        raise RunNotFoundError(NOT_FOUND)
    return claims


def _unsafe(relative_path: str) -> bool:
    """True for anything but a plain relative path: absolute, '..', empty parts or Windows separators."""
    if not relative_path or "\\" in relative_path or "\0" in relative_path:
        return True
    path = PurePosixPath(relative_path)
    return path.is_absolute() or any(part in {"", ".", ".."} for part in relative_path.split("/"))


def _secret() -> bytes:
    return load_secret(load_settings().home)
