"""A minimal NATS client (text protocol, no TLS, no auth): CONNECT, PUB, SUB, MSG, PING/PONG.

Just enough for the pub/sub benchmark: one subject, QoS "at most once" as NATS core is.
Not a general client: no reconnects, no headers (HMSG), no request/reply, no JetStream.
Protocol reference: https://docs.nats.io/reference/reference-protocols/nats-protocol
"""
import json
import socket

from clients import wire


class NatsClient:
    def __init__(self, host, port, name, timeout_s=10.0):
        self.sock = wire.connect(host, port, timeout_s)
        self.buf = bytearray()
        line = self._read_line(timeout_s)
        if not line.startswith(b"INFO "):
            raise wire.ProtocolError(f"nats: expected INFO, got {line[:60]!r}")
        options = {"verbose": False, "pedantic": False, "name": name, "lang": "python-bench",
                   "version": "0", "protocol": 0, "echo": True}
        self.sock.sendall(b"CONNECT " + json.dumps(options).encode() + b"\r\n")
        self._sync(timeout_s)

    # --- Control plane (blocking, bounded by timeout_s). ---

    def _read_line(self, timeout_s):
        def has_line():
            return self.buf.find(b"\r\n") >= 0
        wire.read_until(self.sock, self.buf, has_line, timeout_s)
        end = self.buf.find(b"\r\n")
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def _sync(self, timeout_s):
        """PING and wait for the PONG: the server has processed everything sent before."""
        self.sock.sendall(b"PING\r\n")
        for _ in range(64):  # skip at most a few INFO updates and server PINGs
            line = self._read_line(timeout_s)
            if line == b"PONG":
                return
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise wire.ProtocolError(f"nats: {line.decode(errors='replace')}")
        raise wire.ProtocolError("nats: no PONG")

    def subscribe(self, subject, timeout_s=10.0):
        self.sock.sendall(b"SUB %s 1\r\n" % subject.encode())
        self._sync(timeout_s)

    # --- Data plane. ---

    @staticmethod
    def publish_frame(subject, payload):
        return b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload), payload)

    def publish_batch(self, subject, payloads):
        self.sock.sendall(b"".join(self.publish_frame(subject, p) for p in payloads))

    def feed(self, data):
        """Appends received bytes; returns the payloads of the complete MSGs in them."""
        self.buf += data
        out = []
        buf = self.buf
        pos = 0
        while True:
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            if buf.startswith(b"MSG ", pos):
                size = int(buf[buf.rfind(b" ", pos, end) + 1:end])
                body_end = end + 2 + size
                if len(buf) < body_end + 2:
                    break
                out.append(bytes(buf[end + 2:body_end]))
                pos = body_end + 2
                continue
            line = bytes(buf[pos:end])
            pos = end + 2
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise wire.ProtocolError(f"nats: {line.decode(errors='replace')}")
            # +OK, PONG, INFO: nothing to do.
        del buf[:pos]
        return out

    def close(self):
        self.sock.close()
