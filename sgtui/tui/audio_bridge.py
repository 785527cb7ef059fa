"""Hearing lines over SSH: a page on 127.0.0.1 that the annotator's own browser plays.

No terminal has an audio protocol, so `BrowserPlayer` runs a small HTTP server on the loopback
interface (a background thread; `sgtui.tui.audio_page.server`) and the annotator opens it
through `ssh -L N:127.0.0.1:N`. The page receives play/stop events as server-sent events and
fetches the clip by line id; the app hands over line ids, never decoded audio.
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import os
import secrets
import socket
import threading
import time
from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.media.wavout import wav_bytes
from sgtui.project import Clip
from sgtui.tui.audio_page.server import (
    KEEPALIVE_S,
    MONTAGE_MAX,
    ClipSource,
    Events,
    Handler,
    Server,
)
from sgtui.tui.player import LineInfo

PORT_RANGE = (20000, 29999)


def default_port(project: Path, uid: int | None = None) -> int:
    """A port stable per user and project, so a tunnel can stay open from one day to the next."""
    uid = os.getuid() if uid is None else uid
    digest = hashlib.sha256(f"{uid}:{project.resolve()}".encode()).digest()
    lo, hi = PORT_RANGE
    return lo + int.from_bytes(digest[:4], "big") % (hi - lo + 1)


def file_clips(path: Path) -> ClipSource:
    """Clips read from the project file with a connection of the calling thread's own.

    The server's request threads cannot share the app's SQLite connection; opening a
    read-only one per request costs a few milliseconds, far below a clip's length."""
    from sgtui.project import Project

    def clip(line_id: int) -> Clip | None:
        with Project.open(path, readonly=True) as project:
            return project.clip(line_id)

    return clip


def clock(ms: int) -> str:
    """m:ss.d, the way the app shows a line's time."""
    s = ms / 1000
    return f"{int(s // 60)}:{s % 60:04.1f}"


def ssh_hint(port: int, user: str | None = None, host: str | None = None) -> str:
    """The exact command to run on the annotator's own machine."""
    user = user or _login_name()
    host = host or socket.gethostname()
    return f"ssh -L {port}:127.0.0.1:{port} {user}@{host}"


def _login_name() -> str:
    try:
        return os.getlogin()
    except OSError:
        return getpass.getuser()


class BrowserPlayer:
    """A `Player` whose sound comes out of the annotator's browser, wherever it is."""

    notice: str | None = None

    def __init__(self, clips: ClipSource, *, port: int | None = None, project: Path | None = None,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        explicit = port is not None
        wanted = port if port is not None else (default_port(project) if project else 0)
        self.port_message = ""
        try:
            self._server = Server(("127.0.0.1", wanted), Handler)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise SgtuiError(f"cannot listen on 127.0.0.1:{wanted} ({exc.strerror}); "
                                 "choose another --audio-port") from None
            if explicit:
                raise SgtuiError(f"port {wanted} is already in use; choose another --audio-port "
                                 "or leave it out") from None
            self._server = Server(("127.0.0.1", 0), Handler)
            self.port_message = (f"port {wanted} is taken (another sgtui?); using "
                                 f"{self._server.server_address[1]} instead, so the ssh -L "
                                 "line changed for this session")
        self.port: int = self._server.server_address[1]
        self.token = secrets.token_urlsafe(24)
        self._server.token = self.token
        self._server.cookie_name = f"sgtui_{self.port}"
        self._server.clips = clips
        self._server.events = self.events = Events()
        self._server.keepalive_s = keepalive_s
        self._thread = threading.Thread(target=self._server.serve_forever, name="sgtui-audio-page",
                                        daemon=True)
        self._thread.start()
        self._playing_until = 0.0
        self._pcm_count = 0

    # ---- what the app shows --------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    @property
    def connected(self) -> bool:
        """Whether a page holds the event stream open (it is listening)."""
        return self.events.streams > 0

    @property
    def name(self) -> str:
        return "page connected" if self.connected else "page not connected"

    def ssh_line(self) -> str:
        return ssh_hint(self.port)

    # ---- Player --------------------------------------------------------------------------
    def play_lines(self, lines: list[LineInfo], what: str) -> None:
        """Tell the page to fetch and play these lines (one clip, or a joined montage)."""
        if not lines:
            return
        ids = [li.id for li in lines]
        if len(ids) == 1:
            url, wav = f"/clip/{ids[0]}", f"/clip/{ids[0]}?format=wav"
        else:
            url = wav = "/montage?lines=" + ",".join(map(str, ids[:MONTAGE_MAX]))
        duration = sum(li.end_ms - li.start_ms for li in lines) / 1000 + 0.25 * (len(lines) - 1)
        self._playing_until = time.monotonic() + duration
        self.events.push("play", {
            "what": what, "url": url, "wav_url": wav, "duration_s": round(duration, 3),
            "lines": [{"id": li.id, "time": clock(li.start_ms), "end": clock(li.end_ms),
                       "text": li.text, "cluster": li.cluster} for li in lines],
        })

    def play(self, pcm: np.ndarray, sample_rate: int) -> None:
        """Any PCM (the Player interface): kept in memory as WAV until the next one."""
        self._pcm_count += 1
        seq = self._pcm_count
        self._server.pcm = (seq, wav_bytes(pcm, sample_rate))
        duration = len(pcm) / sample_rate
        self._playing_until = time.monotonic() + duration
        self.events.push("play", {"what": "sound", "url": f"/pcm/{seq}", "wav_url": f"/pcm/{seq}",
                                  "duration_s": round(duration, 3), "lines": []})

    def stop(self) -> None:
        self._playing_until = 0.0
        self.events.push("stop", {})

    def is_playing(self) -> bool:
        return time.monotonic() < self._playing_until

    def close(self) -> None:
        """Stop serving; open event streams end within a keep-alive interval."""
        if self.events.closed:
            return
        with self.events.cond:
            self.events.closed = True
            self.events.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
