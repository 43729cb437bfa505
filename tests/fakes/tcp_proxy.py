"""A TCP proxy on 127.0.0.1 for fault tests: the application talks to its database through it, and
the test takes the database away for real — `stop()` closes the port and every connection (the
next connect is refused), `start()` opens the same port again, and `cut_on(pattern)` drops the
connection (RST) the moment the client sends bytes containing `pattern` (e.g. an INSERT), as a
database crashing in the middle of a transaction would."""
from __future__ import annotations

import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut: bytes | None = None
        self.cuts = 0

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the port and drop every connection: the database is gone."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting on it
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            _abort(s)

    def cut_on(self, pattern: bytes) -> None:
        """Drop the connection that next sends `pattern` (once)."""
        self._cut = pattern

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _abort(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                pattern = self._cut
                if from_client and pattern is not None and pattern in data:
                    self._cut = None
                    self.cuts += 1
                    _abort(source)
                    _abort(sink)
                    return
                sink.sendall(data)
        except OSError:
            pass
        _abort(source)
        _abort(sink)


def _abort(s: socket.socket) -> None:
    """Close with RST, as a crashed server's kernel would, rather than an orderly FIN."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RD)  # wakes a thread blocked reading it (close alone would not)
    except OSError:
        pass
    try:
        s.close()  # the last reference gone: RST, since linger is 0
    except OSError:
        pass
