"""The browser player's server, over real HTTP on 127.0.0.1: security, clips, the event stream."""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
import wave

import av
import numpy as np
import pytest
from tui_helpers import small_project

from sgtui.errors import SgtuiError
from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip
from sgtui.project import Project
from sgtui.tui.audio_bridge import BrowserPlayer, default_port, file_clips, ssh_hint
from sgtui.tui.player import LineInfo, NullPlayer, is_remote, make_player


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    return small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")


@pytest.fixture
def bridge(sp):
    player = BrowserPlayer(file_clips(sp.path), project=sp.path, keepalive_s=0.3)
    yield player
    player.close()


def get(player: BrowserPlayer, path: str, *, host: str | None = None, cookie: str | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", player.port, timeout=10)
    hdrs = {"Host": host or f"127.0.0.1:{player.port}", **(headers or {})}
    if cookie:
        hdrs["Cookie"] = cookie
    conn.request("GET", path, headers=hdrs)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def login(player: BrowserPlayer) -> str:
    """Open the page with the token in the URL; return the cookie it sets."""
    status, headers, body = get(player, f"/?token={player.token}")
    assert status == 200 and b"Enable sound" in body
    return headers["set-cookie"].split(";")[0]


def pcm_of(data: bytes) -> np.ndarray:
    """Decode any audio bytes with PyAV alone (not through sgtui), to 16 kHz mono float."""
    with av.open(io.BytesIO(data)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        out = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in rs.resample(fr)]
        out += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    return np.concatenate(out)


def test_every_request_needs_the_token_then_the_cookie(bridge):
    assert get(bridge, "/")[0] == 403
    assert get(bridge, "/?token=" + "x" * len(bridge.token))[0] == 403
    assert get(bridge, "/?token=%C3%A9%FF")[0] == 403  # non-ASCII, even invalid UTF-8
    assert get(bridge, "/", cookie=f"{bridge._server.cookie_name}=\u00e9")[0] == 403
    assert get(bridge, "/clip/1")[0] == 403
    assert get(bridge, "/events")[0] == 403
    status, headers, _ = get(bridge, f"/?token={bridge.token}")
    assert status == 200
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and bridge.token in cookie
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert not any(k.startswith("access-control-") for k in headers)  # no CORS at all
    jar = cookie.split(";")[0]
    assert get(bridge, "/page.js", cookie=jar)[0] == 200
    assert get(bridge, "/page.js", cookie=jar.replace(bridge.token, "nope"))[0] == 403


def test_a_wrong_host_header_is_refused_even_with_the_token(bridge):
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends its own Host."""
    url = f"/?token={bridge.token}"
    assert get(bridge, url, host=f"evil.example:{bridge.port}")[0] == 403
    assert get(bridge, url, host=f"127.0.0.1:{bridge.port + 1}")[0] == 403
    assert get(bridge, url, host="127.0.0.1")[0] == 403
    assert get(bridge, url, host=f"localhost:{bridge.port}")[0] == 200


def test_only_clips_of_the_project_by_integer_id(bridge, sp):
    jar = login(bridge)
    assert get(bridge, "/clip/999999", cookie=jar)[0] == 404
    for bad in ("/clip/abc", "/clip/../../etc/passwd", "/clip/", "/clips", "/etc/passwd",
                f"/clip/{sp.ids['A'][0]}.ogg"):
        assert get(bridge, bad, cookie=jar)[0] == 404, bad
    assert get(bridge, "/montage?lines=1,../x", cookie=jar)[0] == 400
    assert get(bridge, "/montage?lines=1,999999", cookie=jar)[0] == 404


def test_clips_decode_to_the_stored_audio_as_ogg_and_as_wav(bridge, sp):
    jar = login(bridge)
    lid = sp.ids["B"][1]
    with Project.open(sp.path, readonly=True) as p:
        stored = p.clip(lid)
    want = decode_clip(stored.codec, stored.sample_rate, stored.data)

    status, headers, body = get(bridge, f"/clip/{lid}", cookie=jar)
    assert status == 200 and headers["content-type"] == "audio/ogg" and body == stored.data
    got = pcm_of(body)
    assert len(got) == len(want) and np.allclose(got, want, atol=1e-6)

    status, headers, wav = get(bridge, f"/clip/{lid}?format=wav", cookie=jar)
    assert status == 200 and headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (SAMPLE_RATE, 1, len(want))
    assert np.abs(pcm_of(wav) - np.clip(want, -1, 1)).max() < 2e-4  # 16-bit rounding only

    status, headers, part = get(bridge, f"/clip/{lid}", cookie=jar, headers={"Range": "bytes=10-99"})
    assert status == 206 and part == stored.data[10:100]
    assert headers["content-range"] == f"bytes 10-99/{len(stored.data)}"


def test_a_montage_is_the_clips_joined_with_the_players_gaps(bridge, sp):
    jar = login(bridge)
    ids = sp.ids["C"][:3]
    with Project.open(sp.path, readonly=True) as p:
        lengths = [len(decode_clip(c.codec, c.sample_rate, c.data)) for c in map(p.clip, ids)]
    status, _, wav = get(bridge, "/montage?lines=" + ",".join(map(str, ids)), cookie=jar)
    assert status == 200
    assert len(pcm_of(wav)) == sum(lengths) + 2 * int(0.25 * SAMPLE_RATE)


class Stream:
    """An event-stream reader on a raw socket: what a page (or curl -N) receives."""

    def __init__(self, player: BrowserPlayer, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", player.port), timeout=10)
        self.sock.sendall((f"GET /events HTTP/1.1\r\nHost: localhost:{player.port}\r\n"
                           f"Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n").encode())
        self.buf = b""

    def read_until(self, needle: bytes, timeout: float = 10) -> bytes:
        end = time.monotonic() + timeout
        while needle not in self.buf:
            assert time.monotonic() < end, f"{needle!r} never came; got {self.buf!r}"
            self.buf += self.sock.recv(65536)
        return self.buf

    def events(self) -> list[tuple[str, dict]]:
        out = []
        for block in self.buf.split(b"\r\n\r\n", 1)[-1].decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines()
                          if ": " in line and not line.startswith(":"))
            if "event" in fields:
                out.append((fields["event"], json.loads(fields["data"])))
        return out

    def close(self) -> None:
        self.sock.close()


def test_the_event_stream_delivers_play_and_stop_in_order(bridge, sp):
    jar = login(bridge)
    s = Stream(bridge, jar)
    head = s.read_until(b"event: state")
    assert b"200 OK" in head and b"text/event-stream" in head
    assert s.events()[0] == ("state", {"kind": "stop", "seq": 0})
    a, b = sp.ids["A"][0], sp.ids["B"][0]
    bridge.play_lines([LineInfo(a, 1000, 3000, "Good morning everyone.", "Alice")], "line")
    bridge.stop()
    bridge.play_lines([LineInfo(a, 1000, 3000, "x", "Alice"), LineInfo(b, 3500, 5500, "y", "#2")],
                      "montage")
    s.read_until(b"montage")
    s.read_until(b": keep-alive")
    kinds = [(k, d.get("seq")) for k, d in s.events() if k != "ping"]
    assert kinds == [("state", 0), ("play", 1), ("stop", 2), ("play", 3)]
    play = s.events()[1][1]
    assert play["url"] == f"/clip/{a}" and play["wav_url"] == f"/clip/{a}?format=wav"
    assert play["lines"] == [{"id": a, "time": "0:01.0", "end": "0:03.0",
                              "text": "Good morning everyone.", "cluster": "Alice"}]
    assert s.events()[3][1]["url"] == f"/montage?lines={a},{b}"
    assert bridge.connected and bridge.name == "page connected"
    s.close()
    end = time.monotonic() + 5
    while bridge.connected and time.monotonic() < end:  # noticed at the next keep-alive
        time.sleep(0.05)
    assert not bridge.connected and bridge.name == "page not connected"

    # A page that reconnects is told what is playing now (the re-sync).
    s2 = Stream(bridge, jar)
    s2.read_until(b"event: state")
    state = s2.events()[0][1]
    assert state["kind"] == "play" and state["seq"] == 3 and state["remaining_s"] > 0
    s2.close()


def test_two_projects_get_two_ports_and_two_tokens(sp, tmp_path):
    other = tmp_path / "other" / "ep.sgproj"
    assert default_port(sp.path) != default_port(other)
    assert default_port(sp.path) == default_port(sp.path.parent / "." / sp.path.name)
    assert 20000 <= default_port(sp.path) <= 29999
    assert default_port(sp.path, uid=1000) != default_port(sp.path, uid=1001)
    a = BrowserPlayer(file_clips(sp.path), project=sp.path)
    b = BrowserPlayer(file_clips(sp.path), project=other)
    try:
        assert a.port != b.port and a.token != b.token
        assert get(a, f"/?token={b.token}")[0] == 403
    finally:
        a.close()
        b.close()


def test_a_taken_port_falls_back_with_a_message_unless_asked_for(sp):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", default_port(sp.path)))
    blocker.listen()
    try:
        player = BrowserPlayer(file_clips(sp.path), project=sp.path)
        try:
            assert player.port != default_port(sp.path)
            assert f"port {default_port(sp.path)} is taken" in player.port_message
            assert str(player.port) in player.port_message and str(player.port) in player.ssh_line()
        finally:
            player.close()
        with pytest.raises(SgtuiError, match="already in use"):
            BrowserPlayer(file_clips(sp.path), port=default_port(sp.path))
    finally:
        blocker.close()


def test_the_ssh_line_names_the_port_user_and_host():
    assert ssh_hint(23456, "ann", "gpu7") == "ssh -L 23456:127.0.0.1:23456 ann@gpu7"
    assert ssh_hint(23456).startswith("ssh -L 23456:127.0.0.1:23456 ")


def test_auto_over_ssh_picks_the_browser():
    made = []

    def browser():
        made.append(NullPlayer(notice=None))
        return made[-1]

    assert is_remote({"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"})
    assert is_remote({"SSH_TTY": "/dev/pts/3"}) and not is_remote({})
    assert make_player("auto", browser=browser, env={"SSH_CONNECTION": "x"}) is made[0]
    assert make_player("auto", browser=browser, env={"SSH_TTY": "/dev/pts/1"}) is made[1]
    assert make_player("browser", browser=browser, env={}) is made[2]
    assert make_player("none", browser=browser, env={"SSH_CONNECTION": "x"}).name == "none"
    with pytest.raises(SgtuiError, match="browser player is not available"):
        make_player("browser")


def test_plain_pcm_through_the_player_interface_is_served_as_wav(bridge):
    jar = login(bridge)
    tone = (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    bridge.play(tone, SAMPLE_RATE)
    assert bridge.is_playing()
    event = bridge.events.log[-1]
    assert event[1] == "play" and event[2]["url"] == "/pcm/1"
    status, headers, body = get(bridge, "/pcm/1", cookie=jar)
    assert status == 200 and headers["content-type"] == "audio/wav"
    assert np.abs(pcm_of(body) - tone).max() < 2e-4
    bridge.play(tone[:100], SAMPLE_RATE)
    assert get(bridge, "/pcm/1", cookie=jar)[0] == 404  # only the latest sound is kept
    bridge.stop()
    assert not bridge.is_playing() and bridge.events.log[-1][1] == "stop"


def test_a_clip_that_does_not_decode_is_a_500_with_the_reason():
    from sgtui.project import Clip

    broken = BrowserPlayer(lambda lid: Clip("opus", SAMPLE_RATE, b"not audio"), port=None)
    try:
        jar = login(broken)
        status, _, body = get(broken, "/clip/5?format=wav", cookie=jar)
        assert status == 500 and b"does not decode" in body
        assert get(broken, "/clip/5", cookie=jar)[0] == 200  # the stored bytes, as they are
    finally:
        broken.close()
