// bench_pub: the benchmark's publisher in C++, for bench/pubsub_vs_brokers.py: one TCP
// connection to nats-server (NATS text protocol), to an MQTT broker (MQTT 3.1.1, QoS 0) or
// to a kadmium node's API (POST /v1/publish, HTTP/1.1 keep-alive, requests pipelined: each
// written when it is due, at most --window unanswered, answers read as they come and
// non-2xx ones counted as failed). Speaks the line protocol of `runner.py pub`: READY once
// connected, a probe every 20 ms until GO on stdin, --rate messages/s for --duration-s
// (late: catch up in batches of at most --batch-max), one JSON summary line, --grace-s,
// then three END messages. Payload as runner.py's: "<kind> <seq> <ts_ns> " padded with 'x'
// to --size, ts_ns CLOCK_MONOTONIC taken just before the write.
// Why C++: the Python publisher cost ~235 µs of CPU per message on this 2-core machine,
// and for kadmium it waited for each answer before the next request (820/s at 1,000/s
// asked): the client, not the system under test, set the rate. Not a general client: one
// connection, no TLS, no auth beyond kadmium's cookie, no QoS above 0; a kadmium
// connection the node closes is reopened at most 3 times (its unanswered requests count as
// failed). Every loop is bounded by a count or a deadline. c++ -O2 -std=c++17.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace {

struct Args {
    std::string system, host = "127.0.0.1", topic = "bench", name = "pub", data;
    int port = 0;
    std::size_t size = 200, batch_max = 64, window = 256;
    double rate = 1000, duration_s = 10, grace_s = 1, probe_timeout_s = 60;
};

using bench::die;
using bench::now_ns;
using bench::read_file;
using bench::say;

// Connected, TCP_NODELAY, non-blocking (writes go through Link::pump, which reads too).
int connect_to(std::string const& host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd < 0 || inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) die("bad address " + host);
    std::string const where = host + ":" + std::to_string(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (errno != EINPROGRESS) die("connect to " + where + ": " + std::strerror(errno));
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&p, 1, 10000) <= 0) die("connect to " + where + ": timed out");
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
            die("connect to " + where + ": " + std::strerror(err ? err : errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// A protocol: set-up (bounded), framing of one publish, and what to do with what the
// server sends back (answers, PINGs).
class Protocol {
public:
    virtual ~Protocol() = default;
    // Appends the bytes of one publish of `payload` (kind 'P', 'M' or 'E') to `out`.
    virtual void frame(std::string const& payload, char kind, std::string& out) = 0;
    // Consumes complete server messages from `in`; may append replies to `out`.
    virtual void parse(std::string& in, std::string& out) = 0;
    // Publishes written and not yet answered (kadmium only).
    virtual std::size_t in_flight() const { return 0; }
    // The server closed the connection: true when the caller should reconnect and go on.
    virtual bool closed() { return false; }
    virtual void goodbye(std::string&) {}
};

// One connection: bytes to write, bytes read, the protocol on it.
struct Link {
    int fd = -1;
    std::string in, out;
    std::unique_ptr<Protocol> proto;
    std::string stdin_line;  // what came on stdin (the GO), when watched
    bool stdin_done = false;
};

Link open_link(Args const& a);

// One round: waits until `until` (CLOCK_MONOTONIC ns) at most for the socket (and stdin
// when asked), writes what it can of link.out, reads and parses what came. Returns early
// as soon as something happened.
void pump(Link& link, Args const& a, std::int64_t until, bool watch_stdin = false) {
    pollfd p[2] = {{link.fd, short(POLLIN | (link.out.empty() ? 0 : POLLOUT)), 0}, {0, POLLIN, 0}};
    std::int64_t wait = std::max<std::int64_t>(0, until - now_ns());
    timespec ts{time_t(wait / 1000000000), long(wait % 1000000000)};
    if (ppoll(p, watch_stdin ? 2 : 1, &ts, nullptr) <= 0) return;
    if (watch_stdin && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        char c;
        for (int i = 0; i < 256; ++i) {  // a line is short; read it byte by byte, no stdio buffer
            ssize_t n = read(0, &c, 1);
            if (n <= 0 || c == '\n') {
                link.stdin_done = true;
                break;
            }
            link.stdin_line += c;
        }
    }
    bool gone = false;
    if (p[0].revents & POLLOUT) {
        ssize_t n = send(link.fd, link.out.data(), link.out.size(), MSG_NOSIGNAL);
        if (n > 0) link.out.erase(0, std::size_t(n));
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) gone = true;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char chunk[1 << 16];
        ssize_t n = recv(link.fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            link.in.append(chunk, std::size_t(n));
            link.proto->parse(link.in, link.out);
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            gone = true;
        }
    }
    if (!gone) return;
    if (!link.proto->closed()) die("connection closed by the server");
    close(link.fd);
    auto proto = std::move(link.proto);
    Link fresh = open_link(a);
    fresh.proto = std::move(proto);
    link.fd = fresh.fd;
    link.in.clear();
    link.out.clear();
}

// Writes all of link.out (reading meanwhile); dies if the server takes none of it for 30 s.
void flush(Link& link, Args const& a) {
    if (!link.out.empty()) {  // the usual case: the socket takes it all, no poll needed
        ssize_t n = send(link.fd, link.out.data(), link.out.size(), MSG_NOSIGNAL);
        if (n > 0) link.out.erase(0, std::size_t(n));  // an error shows in pump's poll below
    }
    std::int64_t deadline = now_ns() + 30'000'000'000;
    while (!link.out.empty()) {
        std::size_t before = link.out.size();
        pump(link, a, deadline);
        if (link.out.size() < before) deadline = now_ns() + 30'000'000'000;
        else if (now_ns() >= deadline) die("the server took no bytes for 30 s");
    }
}

// Reads and answers until `until`.
void idle_until(Link& link, Args const& a, std::int64_t until) {
    for (int i = 0; i < 1000000 && now_ns() < until; ++i) pump(link, a, until);
}

// Until every publish is answered or `timeout_ns` passed; false on timeout.
bool drain(Link& link, Args const& a, std::int64_t timeout_ns) {
    std::int64_t const deadline = now_ns() + timeout_ns;
    for (int i = 0; i < 1000000 && (link.proto->in_flight() > 0 || !link.out.empty()) && now_ns() < deadline; ++i)
        pump(link, a, deadline);
    return link.proto->in_flight() == 0 && link.out.empty();
}

// The set-up exchanges, before any publish (and before link.proto exists): a bounded
// blocking write, and bounded reads until `done(link.in)`.
void setup_send(Link& link, std::string const& s) {
    std::size_t at = 0;
    std::int64_t const deadline = now_ns() + 10'000'000'000;
    while (at < s.size() && now_ns() < deadline) {
        pollfd p{link.fd, POLLOUT, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = send(link.fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
        if (n > 0) at += std::size_t(n);
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) die("send failed: " + std::string(std::strerror(errno)));
    }
    if (at < s.size()) die("timed out writing to the server");
}

template <class Done>
void setup_read(Link& link, Done done) {
    std::int64_t const deadline = now_ns() + 10'000'000'000;
    while (!done(link.in) && now_ns() < deadline) {
        pollfd p{link.fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char chunk[1 << 16];
        ssize_t n = recv(link.fd, chunk, sizeof chunk, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) die("connection closed by the server");
        if (n > 0) link.in.append(chunk, std::size_t(n));
    }
    if (!done(link.in)) die("timed out waiting for the server");
}

bool has_line(std::string const& in) { return in.find("\r\n") != std::string::npos; }

class Nats : public Protocol {
public:
    Nats(Link& link, Args const& a) : subject_(a.topic) {
        setup_read(link, has_line);
        if (link.in.compare(0, 5, "INFO ") != 0) die("nats: no INFO");
        link.in.erase(0, link.in.find("\r\n") + 2);
        setup_send(link,
                   "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"" + a.name +
                       "\",\"lang\":\"cpp-bench\",\"version\":\"0\",\"protocol\":0,\"echo\":true}\r\nPING\r\n");
        for (int i = 0; i < 64; ++i) {  // skip at most a few INFO updates and server PINGs
            setup_read(link, has_line);
            std::size_t end = link.in.find("\r\n");
            std::string line = link.in.substr(0, end);
            link.in.erase(0, end + 2);
            if (line == "PONG") return;
            if (line == "PING") setup_send(link, "PONG\r\n");
            if (line.compare(0, 4, "-ERR") == 0) die("nats: " + line);
        }
        die("nats: no PONG");
    }
    void frame(std::string const& payload, char, std::string& out) override {
        out += "PUB " + subject_ + " " + std::to_string(payload.size()) + "\r\n";
        out += payload;
        out += "\r\n";
    }
    void parse(std::string& in, std::string& out) override {
        std::size_t pos = 0;
        for (;;) {
            std::size_t end = in.find("\r\n", pos);
            if (end == std::string::npos) break;
            if (in.compare(pos, 4, "PING") == 0) out += "PONG\r\n";
            if (in.compare(pos, 4, "-ERR") == 0) die("nats: " + in.substr(pos, end - pos));
            pos = end + 2;  // +OK, PONG, INFO: nothing to do (no SUB here, so no MSG)
        }
        in.erase(0, pos);
    }

private:
    std::string subject_;
};

std::string mqtt_str(std::string const& s) { return {char(s.size() >> 8), char(s.size() & 0xff)}; }
void mqtt_header(unsigned char first, std::size_t n, std::string& out) {
    out += char(first);
    do {
        unsigned char b = n % 128;
        n /= 128;
        out += char(b | (n ? 0x80 : 0));
    } while (n);
}

class Mqtt : public Protocol {
public:
    Mqtt(Link& link, Args const& a) : topic_(mqtt_str(a.topic) + a.topic) {
        std::string name = a.name.substr(0, 23);
        // Protocol "MQTT" level 4, flags: clean session; keep-alive 0 (off); client id.
        std::string body = mqtt_str("MQTT") + "MQTT" + std::string{4, 0x02, 0, 0} + mqtt_str(name) + name;
        std::string connect;
        mqtt_header(0x10, body.size(), connect);
        setup_send(link, connect + body);
        setup_read(link, [](std::string const& in) { return in.size() >= 4; });  // CONNACK: 0x20 0x02 flags code
        if (static_cast<unsigned char>(link.in[0]) != 0x20 || link.in[3] != 0) die("mqtt: connection refused");
        link.in.erase(0, 4);
    }
    void frame(std::string const& payload, char, std::string& out) override {
        mqtt_header(0x30, topic_.size() + payload.size(), out);  // PUBLISH, QoS 0: no packet id
        out += topic_;
        out += payload;
    }
    void parse(std::string& in, std::string&) override { in.clear(); }  // keep-alive off: nothing expected
    void goodbye(std::string& out) override { out += std::string{char(0xe0), 0}; }  // DISCONNECT

private:
    std::string topic_;  // length-prefixed
};

std::string json_string(std::string const& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\u%04x", c);
            out += hex;
            continue;
        }
        out += c;
    }
    return out + '"';
}

// kadmium: POST /v1/publish, pipelined on one keep-alive connection. The node's session
// (node/http_api.cpp) reads the next request from its buffer once it has written an
// answer, so answers come in request order: a FIFO of kinds says which one each is for.
class Kadmium : public Protocol {
public:
    Kadmium(Args const& a, std::string const& addr, std::string const& cookie) : topic_(json_string(a.topic)) {
        head_ = "POST /v1/publish HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + cookie +
                "\r\nContent-Type: application/json\r\nContent-Length: ";
    }
    void frame(std::string const& payload, char kind, std::string& out) override {
        // The payload is ASCII without quotes or backslashes: no escaping needed.
        static constexpr char before_data[] = ",\"data\":\"", after_data[] = "\",\"durable\":false}";
        std::size_t body = 9 + topic_.size() + (sizeof before_data - 1) + payload.size() + (sizeof after_data - 1);
        out += head_;
        out += std::to_string(body);
        out += "\r\n\r\n{\"topic\":";  // 9 bytes of the body
        out += topic_;
        out += before_data;
        out += payload;
        out += after_data;
        pending_.push_back(kind);
        in_flight_max = std::max(in_flight_max, pending_.size());
    }
    void parse(std::string& in, std::string&) override {
        std::size_t pos = 0;
        for (;;) {
            std::size_t head_end = in.find("\r\n\r\n", pos);
            if (head_end == std::string::npos) break;
            if (in.compare(pos, 5, "HTTP/") != 0) die("kadmium: not an HTTP answer: " + in.substr(pos, 40));
            std::string head = in.substr(pos, head_end - pos);
            for (auto& c : head) c = char(std::tolower(static_cast<unsigned char>(c)));
            int status = std::atoi(head.c_str() + head.find(' ') + 1);
            std::size_t cl = head.find("\r\ncontent-length:");
            if (cl == std::string::npos) die("kadmium: an answer without Content-Length: " + head.substr(0, 40));
            std::size_t length = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
            if (in.size() < head_end + 4 + length) break;
            if (status < 200 || status > 299) {
                ++failed_all;
                if (pending_.empty() || pending_.front() == 'M') ++failed;
                if (failed_all <= 3)
                    std::fprintf(stderr, "bench_pub: kadmium answered %d: %s\n", status,
                                 in.substr(head_end + 4, std::min<std::size_t>(length, 200)).c_str());
            }
            if (!pending_.empty()) pending_.pop_front();
            pos = head_end + 4 + length;
        }
        in.erase(0, pos);
    }
    std::size_t in_flight() const override { return pending_.size(); }
    bool closed() override {
        if (++reconnects_ > 3) return false;
        std::size_t measured = std::size_t(std::count(pending_.begin(), pending_.end(), 'M'));
        std::fprintf(stderr, "bench_pub: the node closed the connection, %zu unanswered (%zu measured): reconnecting\n",
                     pending_.size(), measured);
        failed += measured;
        pending_.clear();
        return true;
    }
    // Measured publishes without a 2xx answer (or lost to a closed connection); failed_all
    // also counts probes and END messages.
    std::size_t failed = 0, failed_all = 0;
    std::size_t in_flight_max = 0;  // the deepest the pipeline went

private:
    std::string topic_, head_;
    std::deque<char> pending_;  // kinds of the requests written and not yet answered
    int reconnects_ = 0;
};

Link open_link(Args const& a) {
    Link link;
    std::string host = a.host;
    int port = a.port;
    if (a.system == "kadmium") {
        if (a.data.empty()) die("kadmium: --data is required");
        std::string addr = read_file(a.data + "/api.addr");
        host = addr.substr(0, addr.rfind(':'));
        port = std::atoi(addr.c_str() + addr.rfind(':') + 1);
        link.fd = connect_to(host, port);
        link.proto = std::make_unique<Kadmium>(a, addr, read_file(a.data + "/api.cookie"));
        return link;
    }
    link.fd = connect_to(host, port);
    if (a.system == "nats") link.proto = std::make_unique<Nats>(link, a);
    else if (a.system == "mqtt") link.proto = std::make_unique<Mqtt>(link, a);
    else die("--system must be nats, mqtt or kadmium");
    return link;
}

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--system") a.system = v;
        else if (k == "--host") a.host = v;
        else if (k == "--port") a.port = std::atoi(v.c_str());
        else if (k == "--data") a.data = v;
        else if (k == "--topic") a.topic = v;
        else if (k == "--name") a.name = v;
        else if (k == "--size") a.size = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "--rate") a.rate = std::atof(v.c_str());
        else if (k == "--duration-s") a.duration_s = std::atof(v.c_str());
        else if (k == "--grace-s") a.grace_s = std::atof(v.c_str());
        else if (k == "--batch-max") a.batch_max = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "--probe-timeout-s") a.probe_timeout_s = std::atof(v.c_str());
        else if (k == "--window") a.window = std::strtoull(v.c_str(), nullptr, 10);
        else die("unknown option " + k);
    }
    if (argc % 2 == 0) die("every option takes a value");
    if (!(a.rate > 0) || a.duration_s < 0 || a.batch_max < 1 || a.window < 1 || a.size > (1 << 20))
        die("--rate must be > 0, --batch-max and --window >= 1, --size at most 1 MiB");
    return a;
}

void payload(char kind, std::uint64_t seq, std::int64_t ts, std::size_t size, std::string& out) {
    char head[64];
    int n = std::snprintf(head, sizeof head, "%c %llu %lld ", kind, static_cast<unsigned long long>(seq),
                          static_cast<long long>(ts));
    out.assign(head, std::size_t(n));
    if (out.size() < size) out.append(size - out.size(), 'x');
}

// Frames and writes `n` publishes of `kind` from sequence number `seq`, one timestamp taken
// just before (a batch is one write).
void publish(Link& link, Args const& a, char kind, std::uint64_t seq, std::size_t n, std::string& scratch) {
    std::int64_t const ts = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
        payload(kind, seq + i, ts, a.size, scratch);
        link.proto->frame(scratch, kind, link.out);
    }
    flush(link, a);
}

// Probes every 20 ms until stdin gives a line: true if it is GO.
bool wait_for_go(Link& link, Args const& a, std::string& scratch) {
    std::int64_t const deadline = now_ns() + std::int64_t(a.probe_timeout_s * 1e9);
    for (std::uint64_t n = 0; now_ns() < deadline; ++n) {
        if (link.proto->in_flight() < a.window) publish(link, a, 'P', n, 1, scratch);
        std::int64_t const until = now_ns() + 20'000'000;
        for (int i = 0; i < 10000 && !link.stdin_done && now_ns() < until; ++i) pump(link, a, until, true);
        if (link.stdin_done) return link.stdin_line == "GO";
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    bench::program = "bench_pub";
    Args a = parse_args(argc, argv);
    Link link = open_link(a);
    say("READY");
    std::string scratch;
    if (!wait_for_go(link, a, scratch)) {
        say("{\"error\": \"no GO from the parent\"}");
        return 1;
    }
    if (!drain(link, a, 10'000'000'000)) std::fprintf(stderr, "bench_pub: probes still unanswered after 10 s\n");

    std::int64_t const cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    std::uint64_t const total = std::uint64_t(a.rate * a.duration_s);
    double const period_ns = 1e9 / a.rate;
    std::int64_t const start = now_ns() + 1'000'000;
    std::uint64_t sent = 0;
    std::int64_t max_late_ns = 0;
    // Bounded: every turn sends at least one message, or waits (for its time, or for an
    // answer that frees the window; flush and the window wait die after 30 s of no progress).
    std::int64_t stalled_since = 0;
    while (sent < total) {
        std::int64_t const now = now_ns();
        double const due_d = std::floor(double(now - start) / period_ns) + 1;
        std::uint64_t const due = due_d <= 0 ? 0 : std::min<std::uint64_t>(total, std::uint64_t(due_d));
        if (due <= sent) {
            pump(link, a, start + std::int64_t(double(sent) * period_ns));
            continue;
        }
        std::size_t const room = a.window - std::min(a.window, link.proto->in_flight());
        if (room == 0) {  // kadmium's window is full: wait for answers
            if (!stalled_since) stalled_since = now;
            else if (now - stalled_since > 30'000'000'000) die("kadmium: no answer for 30 s");
            pump(link, a, now + 100'000'000);
            continue;
        }
        stalled_since = 0;
        max_late_ns = std::max(max_late_ns, now - std::int64_t(double(start) + double(sent) * period_ns));
        std::size_t const n = std::min<std::uint64_t>({due - sent, a.batch_max, room});
        publish(link, a, 'M', sent, n, scratch);
        sent += n;
    }
    double const elapsed = double(now_ns() - start) / 1e9;
    // Every answer is in the count of failures: wait for them (an unanswered one is a failure).
    std::size_t failed = 0;
    std::string extra;
    if (auto* k = dynamic_cast<Kadmium*>(link.proto.get())) {
        if (!drain(link, a, 10'000'000'000))
            std::fprintf(stderr, "bench_pub: %zu publishes unanswered 10 s after the last\n", k->in_flight());
        failed = k->failed + k->in_flight();
        extra = ", \"in_flight_max\": " + std::to_string(k->in_flight_max);
    }
    std::printf("{\"sent\": %llu, \"elapsed_s\": %.6f, \"rate\": %.3f, \"max_late_ms\": %.3f, \"failed\": %zu, "
                "\"cpu_s\": %.6f%s}\n",
                static_cast<unsigned long long>(sent), elapsed, elapsed > 0 ? double(sent) / elapsed : 0.0,
                double(max_late_ns) / 1e6, failed, double(now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e9, extra.c_str());
    std::fflush(stdout);

    idle_until(link, a, now_ns() + std::int64_t(a.grace_s * 1e9));
    for (int i = 0; i < 3; ++i) {
        publish(link, a, 'E', std::uint64_t(i), 1, scratch);
        idle_until(link, a, now_ns() + 100'000'000);
    }
    drain(link, a, 2'000'000'000);
    link.proto->goodbye(link.out);
    flush(link, a);
    close(link.fd);
    return 0;
}
