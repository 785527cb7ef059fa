"""The HTTP side of the browser player: the page, clips by line id, and the event stream.

Security: loopback only (the player binds 127.0.0.1); a random token per start, in the URL
once and then an HttpOnly SameSite=Strict cookie named after the port (cookies ignore ports);
the Host header must be 127.0.0.1:N or localhost:N (DNS rebinding); only the open project's
clips by integer line id, no paths, no listing; no CORS headers, nosniff, a strict CSP.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sgtui.errors import SgtuiError
from sgtui.media.wavout import join_clips, wav_bytes
from sgtui.project import Clip

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


class Events:
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


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server
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
        return bool(given) and _same(given, self.server.token)

    def _token_from_cookie(self) -> bool:
        name = self.server.cookie_name
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and _same(value, self.server.token):
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
            port = self.server.server_address[1]
            self._error(403, f"wrong Host header; open the page as http://127.0.0.1:{port}/ "
                        f"(or http://localhost:{port}/), the address sgtui printed")
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
        elif path == "/favicon.ico":  # asked by every browser; no icon, and no error either
            self._send(204, b"")
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


def _same(given: str, token: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (compare_digest on str not)."""
    return secrets.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_port = False  # two sgtui must never share a port (some Pythons default to True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # never a traceback on the terminal the app draws on; the client sees a reset
    token: str
    cookie_name: str
    clips: ClipSource
    events: Events
    keepalive_s: float
    pcm: tuple[int, bytes] | None = None
