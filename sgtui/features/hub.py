"""Getting model weights: local paths first, the Hugging Face cache next, the hub last.

Model libraries retry an unreachable hub for ~25 s before failing (speechbrain's
`from_hparams`, huggingface_hub's HTTP retries). sgtui never lets them: it resolves every
file itself, and when a file is neither given, nor cached, nor downloadable right now it
raises within seconds an SgtuiError naming the option that takes a local path. Libraries
are then handed local files only.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from sgtui.errors import SgtuiError

PROBE_TIMEOUT_S = 3.0


def _endpoint() -> tuple[str, int]:
    """Host and port a download would connect to first (the proxy, when one is set)."""
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if os.environ.get(var):
            u = urlparse(os.environ[var] if "://" in os.environ[var] else "http://" + os.environ[var])
            return u.hostname or "", u.port or 8080
    u = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return u.hostname or "", u.port or (443 if u.scheme == "https" else 80)


def hub_offline_reason() -> str | None:
    """Why the hub cannot be used right now, or None if a TCP connection opens in 3 s."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SGTUI_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set"
    host, port = _endpoint()
    result: list[str | None] = [f"no answer within {PROBE_TIMEOUT_S:.0f} s"]

    def probe() -> None:  # getaddrinfo has no timeout of its own: run it in a thread
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                result[0] = None
        except OSError as exc:
            result[0] = f"{host}:{port} unreachable ({exc.strerror or exc})"

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(PROBE_TIMEOUT_S + 0.5)
    return result[0]


def offline_error(what: str, option: str, reason: str) -> SgtuiError:
    return SgtuiError(
        f"{what} is not on this machine and cannot be downloaded ({reason}); download it "
        f"where the model hub is reachable and pass its local path with {option} PATH"
    )


def hub_snapshot(repo_id: str, files: list[str], what: str, option: str) -> Path:
    """A local folder holding `files` of hub repo `repo_id`: from the cache, or downloaded."""
    from huggingface_hub import hf_hub_download

    def fetch(local_only: bool) -> Path:
        paths = [
            Path(hf_hub_download(repo_id, f, local_files_only=local_only, etag_timeout=5))
            for f in files
        ]
        return paths[0].parent

    try:
        return fetch(local_only=True)
    except Exception:  # not (fully) in the cache
        pass
    reason = hub_offline_reason()
    if reason is not None:
        raise offline_error(what, option, reason)
    try:
        return fetch(local_only=False)
    except Exception as exc:
        raise SgtuiError(
            f"downloading {what} from {repo_id} failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}); pass a local copy with {option} PATH"
        ) from exc


def cache_dir(*parts: str) -> Path:
    """sgtui's own cache folder (XDG_CACHE_HOME/sgtui), created on demand."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sgtui"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
