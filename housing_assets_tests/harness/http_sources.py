"""Local HTTP servers that misbehave as real sources do: slow, cut off, too large."""

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Misbehaving(BaseHTTPRequestHandler):
    kind = "ok"
    body = b""

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.send_response(200)
        if self.kind == "ok":
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        elif self.kind == "trickle":  # one byte every 0.2 s, for far longer than any deadline
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        elif self.kind == "reset":  # a few bytes of a promised body, then a TCP reset
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"Order,PID\n")
            self.wfile.flush()
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()
        elif self.kind == "declared-too-large":
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        elif self.kind == "endless":  # no length: the body ends when the server closes
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"1,2,3\n" * 10000
            try:
                while True:
                    self.wfile.write(chunk)
            except OSError:
                pass


@contextmanager
def serve(kind: str, body: bytes = b"") -> Iterator[str]:
    handler = type("Handler", (Misbehaving,), {"kind": kind, "body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/AmesHousing.csv"
    finally:
        server.shutdown()
        server.server_close()
