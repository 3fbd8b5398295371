"""Socket helpers shared by the benchmark's protocol clients: connect with TCP_NODELAY,
and bounded blocking reads for the (rare) control-plane exchanges."""
import socket
import time


class ProtocolError(Exception):
    pass


def connect(host, port, timeout_s=10.0):
    sock = socket.create_connection((host, port), timeout=timeout_s)
    # Without it, Nagle's algorithm holds small writes for up to ~40 ms (BUILD-NOTES).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    return sock


def read_until(sock, buf, done, timeout_s):
    """Reads into bytearray `buf` until done() is true; raises after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProtocolError("timed out waiting for the server")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        finally:
            sock.settimeout(None)
        if not data:
            raise ProtocolError("connection closed by the server")
        buf += data
