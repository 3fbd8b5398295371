// bench_sub: the benchmark's subscribers in C++, for bench/pubsub_vs_brokers.py: --count
// subscriptions, each its own TCP connection (for kadmium: one per --data node), served
// by one poll() loop in one process. Speaks the same minimal protocols as the Python
// clients next to it (NATS text protocol, MQTT 3.1.1 QoS 0, kadmium's GET /v1/subscribe
// server-sent events) and the line protocol of `runner.py sub` (READY once all are
// subscribed, PROBED once each has received a probe, one JSON summary line; latencies of
// every connection to --out as int64 ns; with --trace FILE also one text line per delivery:
// publish time, connection index, latency, in ns, to see when and where the tail happens).
// Why C++ and one process: on a busy 2-core machine a Python subscriber costs ~200 µs of
// CPU per wake-up, and ten processes woken for every message cost more than the broker:
// the clients, not the system under test, set the limits measured. Not a general
// client: no reconnects, no TLS, no auth beyond kadmium's cookie. c++ -O2 -std=c++17.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.hpp"

namespace {

struct Args {
    std::string system, host = "127.0.0.1", topic = "bench", name = "sub", out, trace;
    std::vector<std::string> data;  // kadmium: one node data dir per connection
    int port = 0;
    int count = 1;  // brokers: connections (kadmium: one per --data)
    std::size_t expected = 0;
    double deadline_s = 60;
};

using bench::die;
using bench::now_ns;
using bench::read_file;
using bench::say;

int connect_to(std::string const& host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd < 0 || inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) die("bad address " + host);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect: " + std::string(std::strerror(errno)));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void send_all(int fd, std::string const& s) {
    std::size_t at = 0;
    while (at < s.size()) {
        ssize_t n = send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
        if (n <= 0) die("send failed");
        at += std::size_t(n);
    }
}

// Reads more bytes into `buf`, waiting at most timeout_ms; false on timeout.
bool read_more(int fd, std::string& buf, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[1 << 18];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) die("connection closed by the server");
    buf.append(tmp, std::size_t(n));
    return true;
}

// A protocol: set-up (blocking, bounded) and a parser from stream bytes to payloads.
class Protocol {
public:
    virtual ~Protocol() = default;
    // Consumes complete messages from `buf`, appending their payloads.
    virtual void parse(std::string& buf, std::vector<std::string>& out) = 0;
};

void read_until(int fd, std::string& buf, std::string const& marker) {
    for (int i = 0; i < 100 && buf.find(marker) == std::string::npos; ++i) read_more(fd, buf, 100);
    if (buf.find(marker) == std::string::npos) die("timed out waiting for the server");
}

class Nats : public Protocol {
public:
    Nats(int fd, Args const& a, std::string const& name, std::string& buf) : fd_(fd) {
        read_until(fd, buf, "\r\n");
        if (buf.compare(0, 5, "INFO ") != 0) die("nats: no INFO");
        buf.erase(0, buf.find("\r\n") + 2);
        send_all(fd, "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"" + name + "\"}\r\nSUB " + a.topic +
                         " 1\r\nPING\r\n");
        read_until(fd, buf, "PONG\r\n");
        buf.erase(0, buf.find("PONG\r\n") + 6);
    }
    void parse(std::string& buf, std::vector<std::string>& out) override {
        std::size_t pos = 0;
        for (;;) {
            std::size_t end = buf.find("\r\n", pos);
            if (end == std::string::npos) break;
            if (buf.compare(pos, 4, "MSG ") == 0) {
                std::size_t size = std::strtoull(buf.c_str() + buf.rfind(' ', end) + 1, nullptr, 10);
                if (buf.size() < end + 2 + size + 2) break;
                out.emplace_back(buf, end + 2, size);
                pos = end + 2 + size + 2;
                continue;
            }
            if (buf.compare(pos, 4, "PING") == 0) send_all(fd_, "PONG\r\n");
            if (buf.compare(pos, 4, "-ERR") == 0) die("nats: " + buf.substr(pos, end - pos));
            pos = end + 2;
        }
        buf.erase(0, pos);
    }

private:
    int fd_;
};

std::string mqtt_str(std::string const& s) { return {char(s.size() >> 8), char(s.size() & 0xff)}; }
std::string mqtt_packet(unsigned char first, std::string const& body) {
    std::string p(1, char(first));
    std::size_t n = body.size();
    do {
        unsigned char b = n % 128;
        n /= 128;
        p += char(b | (n ? 0x80 : 0));
    } while (n);
    return p + body;
}

// (first byte, body start, end) of the MQTT packet at buf[pos], or false if incomplete.
bool mqtt_next(std::string const& buf, std::size_t pos, unsigned& first, std::size_t& start, std::size_t& end) {
    if (buf.size() < pos + 2) return false;
    std::size_t len = 0, i = pos + 1;
    for (int shift = 0; shift < 28; shift += 7) {
        if (i >= buf.size()) return false;
        unsigned char b = buf[i++];
        len |= std::size_t(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        if (shift == 21) die("mqtt: bad remaining length");
    }
    if (buf.size() < i + len) return false;
    first = static_cast<unsigned char>(buf[pos]);
    start = i;
    end = i + len;
    return true;
}

class Mqtt : public Protocol {
public:
    Mqtt(int fd, Args const& a, std::string const& full_name, std::string& buf) {
        std::string name = full_name.substr(0, 23);
        send_all(fd, mqtt_packet(0x10, mqtt_str("MQTT") + "MQTT" + std::string{4, 0x02, 0, 0} + mqtt_str(name) + name));
        expect(fd, buf, 2, "CONNACK");
        send_all(fd, mqtt_packet(0x82, std::string{0, 1} + mqtt_str(a.topic) + a.topic + std::string(1, '\0')));
        expect(fd, buf, 9, "SUBACK");
    }
    void parse(std::string& buf, std::vector<std::string>& out) override {
        unsigned first;
        std::size_t pos = 0, start, end;
        while (mqtt_next(buf, pos, first, start, end)) {
            if (first >> 4 == 3) {
                std::size_t topic = (std::size_t(static_cast<unsigned char>(buf[start])) << 8) |
                                    static_cast<unsigned char>(buf[start + 1]);
                std::size_t skip = 2 + topic + ((first & 0x06) ? 2 : 0);
                out.emplace_back(buf, start + skip, end - start - skip);
            }
            pos = end;
        }
        buf.erase(0, pos);
    }

private:
    static void expect(int fd, std::string& buf, unsigned type, char const* what) {
        unsigned first;
        std::size_t start, end;
        for (int i = 0; i < 100 && !mqtt_next(buf, 0, first, start, end); ++i) read_more(fd, buf, 100);
        if (!mqtt_next(buf, 0, first, start, end) || first >> 4 != type) die(std::string("mqtt: no ") + what);
        buf.erase(0, end);
    }
};

// kadmium: server-sent events on GET /v1/subscribe; each event's data is a JSON object
// whose "data" field is our ASCII payload (no escapes in it, so a scan finds it).
class Kadmium : public Protocol {
public:
    Kadmium(int fd, Args const& a, std::string const& data, std::string& buf) {
        std::string addr = read_file(data + "/api.addr"), cookie = read_file(data + "/api.cookie");
        send_all(fd, "GET /v1/subscribe?topic=" + a.topic + " HTTP/1.1\r\nHost: " + addr +
                         "\r\nAuthorization: Bearer " + cookie + "\r\nAccept: text/event-stream\r\n\r\n");
        read_until(fd, buf, "\r\n\r\n");
        std::size_t head_end = buf.find("\r\n\r\n");
        std::string head = buf.substr(0, head_end);
        if (head.compare(0, 12, "HTTP/1.1 200") != 0) die("kadmium: " + head.substr(0, head.find("\r\n")));
        for (auto& c : head) c = char(std::tolower(static_cast<unsigned char>(c)));
        chunked_ = head.find("transfer-encoding: chunked") != std::string::npos;
        buf.erase(0, head_end + 4);
    }
    void parse(std::string& buf, std::vector<std::string>& out) override {
        dechunk(buf);
        std::size_t pos = 0;
        for (;;) {
            std::size_t end = body_.find('\n', pos);
            if (end == std::string::npos) break;
            std::string_view line(body_.data() + pos, end - pos);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.substr(0, 5) == "data:") event_ += line.substr(5);
            else if (line.empty() && !event_.empty()) {
                if (!extract(event_, out)) ++other_events;
                event_.clear();
            }
            pos = end + 1;
        }
        body_.erase(0, pos);
    }
    std::size_t other_events = 0;

private:
    void dechunk(std::string& buf) {
        if (!chunked_) {
            body_ += buf;
            buf.clear();
            return;
        }
        std::size_t pos = 0;
        while (pos < buf.size()) {
            if (left_ > 0) {
                std::size_t take = std::min(left_, buf.size() - pos);
                body_.append(buf, pos, take);
                pos += take;
                left_ -= take;
                continue;
            }
            std::size_t end = buf.find("\r\n", pos);
            if (end == std::string::npos) break;
            if (end > pos) {
                left_ = std::strtoull(buf.c_str() + pos, nullptr, 16);
                if (left_ == 0) die("kadmium: the node ended the stream");
            }
            pos = end + 2;
        }
        buf.erase(0, pos);
    }
    static bool extract(std::string const& json, std::vector<std::string>& out) {
        std::size_t k = json.find("\"data\"");
        if (k == std::string::npos) return false;
        std::size_t q = json.find('"', json.find(':', k) + 1);
        std::size_t e = json.find('"', q + 1);
        if (q == std::string::npos || e == std::string::npos) return false;
        out.emplace_back(json, q + 1, e - q - 1);
        return true;
    }
    bool chunked_ = false;
    std::size_t left_ = 0;
    std::string body_, event_;
};

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--system") a.system = v;
        else if (k == "--host") a.host = v;
        else if (k == "--port") a.port = std::atoi(v.c_str());
        else if (k == "--topic") a.topic = v;
        else if (k == "--name") a.name = v;
        else if (k == "--out") a.out = v;
        else if (k == "--trace") a.trace = v;  // text: publish ts, connection, latency (ns)
        else if (k == "--data") a.data.push_back(v);
        else if (k == "--count") a.count = std::atoi(v.c_str());
        else if (k == "--expected") a.expected = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "--deadline-s") a.deadline_s = std::atof(v.c_str());
        else die("unknown option " + k);
    }
    if (a.out.empty()) die("--out is required");
    if (a.system == "kadmium") a.count = int(a.data.size());
    if (a.count < 1 || a.count > 1000) die("--count must be 1 to 1000 (kadmium: give --data)");
    return a;
}

// One subscription: its connection, protocol state and what it received.
struct Conn {
    int fd = -1;
    std::string buf;
    std::unique_ptr<Protocol> proto;
    std::vector<unsigned char> seen;
    std::size_t received = 0, duplicates = 0, unknown = 0, unique = 0;
    bool probed = false, ended = false;
};

Conn open_subscription(Args const& a, int index) {
    Conn c;
    std::string host = a.host, name = a.name + std::to_string(index);
    int port = a.port;
    if (a.system == "kadmium") {
        std::string addr = read_file(a.data[index] + "/api.addr");
        host = addr.substr(0, addr.rfind(':'));
        port = std::atoi(addr.c_str() + addr.rfind(':') + 1);
    }
    c.fd = connect_to(host, port);
    if (a.system == "nats") c.proto = std::make_unique<Nats>(c.fd, a, name, c.buf);
    else if (a.system == "mqtt") c.proto = std::make_unique<Mqtt>(c.fd, a, name, c.buf);
    else if (a.system == "kadmium") c.proto = std::make_unique<Kadmium>(c.fd, a, a.data[index], c.buf);
    else die("--system must be nats, mqtt or kadmium");
    c.seen.assign(a.expected, 0);
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    bench::program = "bench_sub";
    Args a = parse_args(argc, argv);
    std::vector<Conn> conns;
    for (int i = 0; i < a.count; ++i) conns.push_back(open_subscription(a, i));
    say("READY");

    std::vector<std::int64_t> latencies;
    std::vector<std::array<std::int64_t, 3>> trace;
    latencies.reserve(a.expected * conns.size());
    std::size_t probed = 0, ended = 0;
    std::int64_t cpu_at_probe = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    std::int64_t const deadline = now_ns() + std::int64_t(a.deadline_s * 1e9);
    std::vector<pollfd> fds;
    for (auto const& c : conns) fds.push_back({c.fd, POLLIN, 0});
    std::vector<std::string> payloads;
    char chunk[1 << 18];
    while (ended < conns.size() && now_ns() < deadline) {
        if (poll(fds.data(), fds.size(), 200) <= 0) continue;
        for (std::size_t i = 0; i < conns.size(); ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            Conn& c = conns[i];
            ssize_t n = recv(c.fd, chunk, sizeof chunk, 0);
            std::int64_t const now = now_ns();
            if (n <= 0) die("connection closed by the server");
            c.buf.append(chunk, std::size_t(n));
            payloads.clear();
            c.proto->parse(c.buf, payloads);
            for (auto const& p : payloads) {
                if (p.size() < 4) continue;  // not one of ours
                char const* s = p.c_str();
                char* after = nullptr;
                std::uint64_t seq = std::strtoull(s + 2, &after, 10);
                std::int64_t ts = std::strtoll(after, nullptr, 10);
                if (s[0] == 'M') {
                    if (seq >= a.expected) {
                        ++c.unknown;
                        continue;
                    }
                    ++c.received;
                    if (c.seen[seq]) {
                        ++c.duplicates;
                        continue;
                    }
                    c.seen[seq] = 1;
                    ++c.unique;
                    latencies.push_back(now - ts);
                    if (!a.trace.empty()) trace.push_back({ts, std::int64_t(i), now - ts});
                } else if (s[0] == 'P' && !c.probed) {
                    c.probed = true;
                    if (++probed == conns.size()) {
                        cpu_at_probe = now_ns(CLOCK_PROCESS_CPUTIME_ID);
                        say("PROBED");
                    }
                } else if (s[0] == 'E' && !c.ended) {
                    c.ended = true;
                    ++ended;
                }
            }
        }
    }
    std::ofstream(a.out, std::ios::binary)
        .write(reinterpret_cast<char const*>(latencies.data()), std::streamsize(latencies.size() * 8));
    if (!a.trace.empty()) {
        std::ofstream t(a.trace);
        for (auto const& [ts, conn, lat] : trace) t << ts << ' ' << conn << ' ' << lat << '\n';
    }
    std::size_t received = 0, duplicates = 0, unknown = 0, other = 0;
    std::string unique_each;
    for (auto const& c : conns) {
        received += c.received;
        duplicates += c.duplicates;
        unknown += c.unknown;
        if (auto const* k = dynamic_cast<Kadmium const*>(c.proto.get())) other += k->other_events;
        unique_each += (unique_each.empty() ? "" : ", ") + std::to_string(c.unique);
        close(c.fd);
    }
    std::printf("{\"received\": %zu, \"unique\": %zu, \"unique_each\": [%s], \"duplicates\": %zu, \"unknown\": %zu, "
                "\"ended\": %s, \"cpu_s\": %.6f, \"other_events\": %zu}\n",
                received, latencies.size(), unique_each.c_str(), duplicates, unknown,
                ended == conns.size() ? "true" : "false", double(now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_at_probe) / 1e9,
                other);
    std::fflush(stdout);
    return 0;
}
