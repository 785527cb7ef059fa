"""Hearing lines over SSH: a page on 127.0.0.1 that the annotator's own browser plays.

No terminal has an audio protocol, so `BrowserPlayer` runs a small HTTP server on the loopback
interface (a background thread) and the annotator opens it through `ssh -L N:127.0.0.1:N`.
The page receives play/stop events as server-sent events and fetches the clip by line id.

Security: loopback only; a random token per start, in the URL once and then an HttpOnly
SameSite=Strict cookie; the Host header must be 127.0.0.1:N or localhost:N (DNS rebinding);
only the open project's clips by integer line id; no CORS headers, nosniff, a strict CSP.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import hashlib
import http.server
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.media.wavout import join_clips, wav_bytes
from sgtui.project import Clip
from sgtui.tui.player import LineInfo

PORT_RANGE = (20000, 29999)
KEEPALIVE_S = 5.0
MONTAGE_MAX = 50
ClipSource = Callable[[int], Clip | None]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; media-src 'self'; "
       "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/page.js": ("page.js", "text/javascript; charset=utf-8"),
              "/page.css": ("page.css", "text/css; charset=utf-8")}
CLIP_MIME = {"opus": "audio/ogg", "flac": "audio/flac"}


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


class _Events:
    """Play/stop events in order, the latest play (to re-sync a page that reconnects), and
    how many pages hold an event stream open."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.seq = 0
        self.log: list[tuple[int, str, dict[str, Any]]] = []
        self.current: dict[str, Any] | None = None  # the latest play until a stop
        self.started = 0.0
        self.streams = 0
        self.closed = False

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        with self.cond:
            self.seq += 1
            payload = {**payload, "seq": self.seq}
            self.log = [*self.log[-49:], (self.seq, kind, payload)]
            if kind == "play":
                self.current, self.started = payload, time.monotonic()
            else:
                self.current = None
            self.cond.notify_all()
            return self.seq

    def state(self) -> dict[str, Any]:
        """What a page that just connected should do: play the current item or stay stopped."""
        with self.cond:
            cur = self.current
            if cur is None:
                return {"kind": "stop", "seq": self.seq}
            elapsed = time.monotonic() - self.started
            return {**cur, "kind": "play", "elapsed_s": round(elapsed, 3),
                    "remaining_s": round(max(0.0, cur.get("duration_s", 0.0) - elapsed), 3)}

    def after(self, seq: int, timeout: float) -> list[tuple[int, str, dict[str, Any]]]:
        with self.cond:
            if self.seq <= seq and not self.closed:
                self.cond.wait(timeout)
            return [e for e in self.log if e[0] > seq]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "sgtui"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # stderr belongs to the terminal app

    # ---- checks --------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def _token_from_url(self, query: dict[str, list[str]]) -> bool:
        given = query.get("token", [""])[0]
        return bool(given) and secrets.compare_digest(given, self.server.token)

    def _token_from_cookie(self) -> bool:
        name = self.server.cookie_name
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and secrets.compare_digest(value, self.server.token):
                return True
        return False

    # ---- responses -----------------------------------------------------------------------
    def _headers(self, status: int, ctype: str, length: int | None,
                 extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              extra: dict[str, str] | None = None) -> None:
        self._headers(status, ctype, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, why: str) -> None:
        self._send(status, (why + "\n").encode())

    def _audio(self, body: bytes, ctype: str) -> None:
        """Audio with byte ranges: media elements seek and probe the end of Ogg files."""
        rng = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if not rng or not (rng.group(1) or rng.group(2)):
            self._send(200, body, ctype, {"Accept-Ranges": "bytes"})
            return
        n = len(body)
        if rng.group(1):
            start = int(rng.group(1))
            end = min(int(rng.group(2)), n - 1) if rng.group(2) else n - 1
        else:  # a suffix: the last N bytes
            start, end = max(0, n - int(rng.group(2))), n - 1
        if start >= n or start > end:
            self._send(416, b"", ctype, {"Content-Range": f"bytes */{n}"})
            return
        self._send(206, body[start:end + 1], ctype,
                   {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{n}"})

    # ---- routes --------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            try:
                self._route()
            except SgtuiError as exc:  # a clip that does not decode: say so to the page
                self._error(500, str(exc))

    def _route(self) -> None:
        if not self._host_ok():
            self._error(403, "wrong Host header; open the page as http://127.0.0.1:PORT/ "
                        "(or localhost:PORT) with the port sgtui printed")
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        by_url = self._token_from_url(query)
        if not (by_url or self._token_from_cookie()):
            self._error(403, "missing or wrong token; open the URL that sgtui shows (with ?token=)")
            return
        path = url.path
        if path in PAGE_FILES:
            name, ctype = PAGE_FILES[path]
            body = resources.files("sgtui.tui.audio_page").joinpath(name).read_bytes()
            extra = {}
            if by_url:
                extra["Set-Cookie"] = (f"{self.server.cookie_name}={self.server.token}; "
                                       "HttpOnly; SameSite=Strict; Path=/")
            self._send(200, body, ctype, extra)
        elif path == "/events":
            self._events()
        elif m := re.fullmatch(r"/clip/(\d{1,12})", path):
            self._clip(int(m.group(1)), query.get("format", [""])[0] == "wav")
        elif path == "/montage":
            self._montage(query.get("lines", [""])[0])
        elif m := re.fullmatch(r"/pcm/(\d{1,12})", path):
            pcm = self.server.pcm
            if pcm is None or pcm[0] != int(m.group(1)):
                self._error(404, "that sound is gone; play it again in the app")
            else:
                self._audio(pcm[1], "audio/wav")
        else:
            self._error(404, "not found")

    def _clip(self, line_id: int, wav: bool) -> None:
        clip = self.server.clips(line_id)
        if clip is None:
            self._error(404, f"line {line_id} has no clip in this project")
        elif wav:
            from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip

            self._audio(wav_bytes(decode_clip(clip.codec, clip.sample_rate, clip.data),
                                  SAMPLE_RATE), "audio/wav")
        else:
            self._audio(clip.data, CLIP_MIME.get(clip.codec, "application/octet-stream"))

    def _montage(self, spec: str) -> None:
        """Several lines back to back, joined the way the local player joins them."""
        from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip

        ids = spec.split(",")
        if len(ids) > MONTAGE_MAX or not all(re.fullmatch(r"\d{1,12}", i) for i in ids):
            self._error(400, f"lines= takes up to {MONTAGE_MAX} line ids separated by commas")
            return
        pcm = []
        for lid in map(int, ids):
            clip = self.server.clips(lid)
            if clip is None:
                self._error(404, f"line {lid} has no clip in this project")
                return
            pcm.append(decode_clip(clip.codec, clip.sample_rate, clip.data))
        self._audio(wav_bytes(join_clips(pcm, SAMPLE_RATE), SAMPLE_RATE), "audio/wav")

    def _events(self) -> None:
        """A server-sent event stream: the current state, then every play/stop in order."""
        ev = self.server.events
        self.close_connection = True
        self._headers(200, "text/event-stream; charset=utf-8", None, {"Connection": "close"})
        if self.command == "HEAD":
            return
        with ev.cond:
            ev.streams += 1
            seen = ev.seq
        try:
            self._write(f"retry: 1000\nevent: state\ndata: {json.dumps(ev.state())}\n\n")
            while not ev.closed:
                news = ev.after(seen, self.server.keepalive_s)
                if ev.closed:
                    break
                if not news:
                    self._write(": keep-alive\nevent: ping\ndata: {}\n\n")
                for seq, kind, payload in news:
                    self._write(f"id: {seq}\nevent: {kind}\ndata: {json.dumps(payload)}\n\n")
                    seen = seq
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with ev.cond:
                ev.streams -= 1

    def _write(self, text: str) -> None:
        self.wfile.write(text.encode())
        self.wfile.flush()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    token: str
    cookie_name: str
    clips: ClipSource
    events: _Events
    keepalive_s: float
    pcm: tuple[int, bytes] | None = None


class BrowserPlayer:
    """A `Player` whose sound comes out of the annotator's browser, wherever it is."""

    notice: str | None = None

    def __init__(self, clips: ClipSource, *, port: int | None = None, project: Path | None = None,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        explicit = port is not None
        wanted = port if port is not None else (default_port(project) if project else 0)
        self.port_message = ""
        try:
            self._server = _Server(("127.0.0.1", wanted), _Handler)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise SgtuiError(f"cannot listen on 127.0.0.1:{wanted} ({exc.strerror}); "
                                 "choose another --audio-port") from None
            if explicit:
                raise SgtuiError(f"port {wanted} is already in use; choose another --audio-port "
                                 "or leave it out") from None
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self.port_message = (f"port {wanted} is taken (another sgtui?); using "
                                 f"{self._server.server_address[1]} instead, so the ssh -L "
                                 "line changed for this session")
        self.port: int = self._server.server_address[1]
        self.token = secrets.token_urlsafe(24)
        self._server.token = self.token
        self._server.cookie_name = f"sgtui_{self.port}"
        self._server.clips = clips
        self._server.events = self.events = _Events()
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
