"""A TCP forwarder that can be cut and reopened: the stand-in for an `ssh -L` tunnel."""

from __future__ import annotations

import contextlib
import socket
import threading


class Tunnel:
    """Forwards `listen` to `target` like ssh -L; `cut()` drops it the way a lost network does
    (every connection closed, nothing listening) and `open()` brings it back."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen, self.target = listen, target
        self.conns: list[socket.socket] = []
        self.accepted = 0
        self.srv: socket.socket | None = None
        self.lock = threading.Lock()

    def open(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(self.listen)
        srv.listen(16)
        self.srv = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                a, _ = srv.accept()
            except OSError:
                return
            b = socket.create_connection(self.target)
            with self.lock:
                self.conns += [a, b]
                self.accepted += 1
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(x: socket.socket, y: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := x.recv(65536):
                y.sendall(data)
        for s in (x, y):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self.srv is not None:
            with contextlib.suppress(OSError):
                self.srv.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self.srv.close()
            self.srv = None
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
