"""kadmium's pub/sub through a node's HTTP API (docs/api.md): a subscriber reading
`GET /v1/subscribe?topic=T` as server-sent events, and a publisher doing `POST /v1/publish`
on one keep-alive connection. Authentication: `Authorization: Bearer <api.cookie>`.
Not a general client: no reconnects, one topic per instance.
"""
import base64
import http.client
import json
import socket
import urllib.parse

from clients import wire


def read_api(data_dir):
    """(host, port, cookie) of the node whose data dir is `data_dir`."""
    with open(f"{data_dir}/api.addr") as f:
        addr = f.read().strip()
    with open(f"{data_dir}/api.cookie") as f:
        cookie = f.read().strip()
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port), cookie


class Subscriber:
    """One SSE stream. feed() turns received bytes into the `data` of each message."""

    def __init__(self, host, port, cookie, topic, timeout_s=10.0):
        self.sock = wire.connect(host, port, timeout_s)
        self.buf = bytearray()
        query = urllib.parse.urlencode({"topic": topic})
        self.sock.sendall((f"GET /v1/subscribe?{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                           f"Authorization: Bearer {cookie}\r\nAccept: text/event-stream\r\n\r\n").encode())
        wire.read_until(self.sock, self.buf, lambda: b"\r\n\r\n" in self.buf, timeout_s)
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if lines[0].split(" ")[1:2] != ["200"]:
            raise wire.ProtocolError(f"kadmium subscribe: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self.chunk_left = 0  # bytes of the current chunk not yet read (chunked mode)
        self.body = bytearray()  # de-chunked body not yet parsed into events
        self.buf = bytearray()
        self.event_data = []
        self.other_events = 0  # events that are not messages (e.g. a "lagged" notice)
        self.feed(rest)

    def _dechunk(self, data):
        if not self.chunked:
            self.body += data
            return
        self.buf += data
        pos = 0
        for _ in range(1 << 20):  # bounded: each turn consumes bytes or stops
            if self.chunk_left:
                take = min(self.chunk_left, len(self.buf) - pos)
                if take <= 0:
                    break
                self.body += self.buf[pos:pos + take]
                pos += take
                self.chunk_left -= take
                continue
            end = self.buf.find(b"\r\n", pos)
            if end < 0:
                break
            line = bytes(self.buf[pos:end]).split(b";")[0].strip()
            pos = end + 2
            if not line:
                continue  # the CRLF after a chunk's data
            self.chunk_left = int(line, 16)
            if self.chunk_left == 0:
                raise wire.ProtocolError("kadmium subscribe: the node ended the stream")
        del self.buf[:pos]

    def feed(self, data):
        self._dechunk(data)
        out = []
        body = self.body
        pos = 0
        while True:
            end = body.find(b"\n", pos)
            if end < 0:
                break
            line = bytes(body[pos:end]).rstrip(b"\r")
            pos = end + 1
            if line.startswith(b"data:"):
                self.event_data.append(line[5:].lstrip(b" "))
            elif not line and self.event_data:
                out.extend(self._message(b"\n".join(self.event_data)))
                self.event_data = []
            # id:, event:, retry: and comments need nothing here.
        del body[:pos]
        return out

    def _message(self, data):
        try:
            obj = json.loads(data)
        except ValueError:
            self.other_events += 1
            return []
        if not isinstance(obj, dict) or "data" not in obj:
            self.other_events += 1
            return []
        if obj.get("encoding") == "base64":
            return [base64.b64decode(obj["data"])]
        return [obj["data"].encode()]

    def close(self):
        self.sock.close()


class Publisher:
    """POST /v1/publish, one request at a time on one keep-alive connection (reopened once
    if the node closed it). A publish is accepted when the node answers 2xx. With
    durable=False the node answers once it has accepted the message (signed and sent),
    not after its disk commit: the guarantee of a NATS publish or MQTT QoS 0, which the
    brokers in this benchmark give; durable=True waits for the fdatasync."""

    def __init__(self, host, port, cookie, timeout_s=10.0, durable=False):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.durable = durable
        self.headers = {"Authorization": f"Bearer {cookie}", "Content-Type": "application/json"}
        self.failed = 0
        self._connect()

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _post(self, body):
        self.conn.request("POST", "/v1/publish", body=body, headers=self.headers)
        r = self.conn.getresponse()
        r.read()
        return r.status

    def publish_batch(self, topic, payloads):
        for p in payloads:
            body = json.dumps({"topic": topic, "data": p.decode(), "durable": self.durable}).encode()
            try:
                status = self._post(body)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self._connect()
                status = self._post(body)
            if not 200 <= status < 300:
                self.failed += 1

    def close(self):
        self.conn.close()
