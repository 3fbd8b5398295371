"""A minimal MQTT 3.1.1 client (no TLS, no auth): CONNECT, SUBSCRIBE and PUBLISH at QoS 0.

Just enough for the pub/sub benchmark: clean session, keep-alive off (so the broker never
expects PINGREQ during a run), one topic. Not a general client: no QoS 1/2, no retained
messages, no will, no reconnects. Reference: MQTT Version 3.1.1, OASIS Standard.
"""
import struct

from clients import wire

CONNECT, CONNACK, PUBLISH, SUBSCRIBE, SUBACK, PINGRESP, DISCONNECT = 1, 2, 3, 8, 9, 13, 14


def remaining_length(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def packet(first_byte, body):
    return bytes([first_byte]) + remaining_length(len(body)) + body


def parse_packet(buf, pos):
    """(first_byte, body_start, end) of the packet at buf[pos:], or None if incomplete."""
    if len(buf) < pos + 2:
        return None
    length, shift, i = 0, 0, pos + 1
    for _ in range(4):  # the length field is at most 4 bytes
        if i >= len(buf):
            return None
        b = buf[i]
        length |= (b & 0x7F) << shift
        shift += 7
        i += 1
        if not b & 0x80:
            break
    else:
        raise wire.ProtocolError("mqtt: bad remaining length")
    if len(buf) < i + length:
        return None
    return buf[pos], i, i + length


class MqttClient:
    def __init__(self, host, port, name, timeout_s=10.0):
        self.sock = wire.connect(host, port, timeout_s)
        self.buf = bytearray()
        # Protocol "MQTT" level 4, flags: clean session; keep-alive 0 (off); client id.
        body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 0) + utf8(name[:23])
        self.sock.sendall(packet(CONNECT << 4, body))
        first, start, end = self._read_packet(timeout_s)
        if first >> 4 != CONNACK or self.buf[start + 1] != 0:
            raise wire.ProtocolError(f"mqtt: connection refused ({bytes(self.buf[:end])!r})")
        del self.buf[:end]

    def _read_packet(self, timeout_s):
        wire.read_until(self.sock, self.buf, lambda: parse_packet(self.buf, 0) is not None, timeout_s)
        return parse_packet(self.buf, 0)

    def subscribe(self, topic, timeout_s=10.0):
        body = struct.pack(">H", 1) + utf8(topic) + bytes([0])  # packet id 1, QoS 0
        self.sock.sendall(packet((SUBSCRIBE << 4) | 0x02, body))
        for _ in range(64):  # a PUBLISH may come before the SUBACK only if already subscribed
            first, start, end = self._read_packet(timeout_s)
            kind = first >> 4
            granted = self.buf[end - 1]
            del self.buf[:end]
            if kind == SUBACK:
                if granted == 0x80:
                    raise wire.ProtocolError("mqtt: subscription refused")
                return
        raise wire.ProtocolError("mqtt: no SUBACK")

    @staticmethod
    def publish_frame(topic, payload):
        return packet(PUBLISH << 4, utf8(topic) + payload)  # QoS 0: no packet id

    def publish_batch(self, topic, payloads):
        self.sock.sendall(b"".join(self.publish_frame(topic, p) for p in payloads))

    def feed(self, data):
        """Appends received bytes; returns the payloads of the complete PUBLISH packets."""
        self.buf += data
        out = []
        pos = 0
        while True:
            p = parse_packet(self.buf, pos)
            if p is None:
                break
            first, start, end = p
            if first >> 4 == PUBLISH:
                topic_len = (self.buf[start] << 8) | self.buf[start + 1]
                skip = 2 + topic_len + (2 if first & 0x06 else 0)  # packet id only for QoS > 0
                out.append(bytes(self.buf[start + skip:end]))
            pos = end
        del self.buf[:pos]
        return out

    def close(self):
        try:
            self.sock.sendall(bytes([DISCONNECT << 4, 0]))
        finally:
            self.sock.close()
