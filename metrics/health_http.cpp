// The civetweb side of /healthz and /readyz: a begin_request callback and the port table
// it looks the Health up in. See health_http.hpp for why it is done this way.
#include "metrics/health_http.hpp"

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/exposer.h>

#include <cstring>
#include <map>
#include <mutex>

namespace metrics::health_http {
namespace {

std::mutex table_mutex;
std::map<int, std::shared_ptr<Health const>>& table() {
    static auto* t = new std::map<int, std::shared_ptr<Health const>>();  // never destroyed: civetweb threads may outlive statics
    return *t;
}

std::shared_ptr<Health const> health_for(int port) {
    std::lock_guard lock(table_mutex);
    auto it = table().find(port);
    return it == table().end() ? nullptr : it->second;
}

// Returns 0 (civetweb goes on: prometheus-cpp's handlers) unless the request is a GET or
// HEAD of /healthz or /readyz; then answers it and returns the status code.
int begin_request(mg_connection* conn) {
    mg_request_info const* info = mg_get_request_info(conn);
    if (info == nullptr || info->local_uri == nullptr || info->request_method == nullptr) return 0;
    bool const head = std::strcmp(info->request_method, "HEAD") == 0;
    if (!head && std::strcmp(info->request_method, "GET") != 0) return 0;
    auto health = health_for(info->server_port);
    if (!health) return 0;
    auto answer = health->answer(info->local_uri, Health::Clock::now());
    if (!answer) return 0;
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
              answer->status, answer->status == 200 ? "OK" : "Service Unavailable", answer->body.size());
    if (!head) mg_write(conn, answer->body.data(), answer->body.size());
    return answer->status;
}

}  // namespace

std::unique_ptr<prometheus::Exposer> make_exposer(std::string const& bind_address) {
    // Static although civetweb copies them at start: nothing has to be known about that.
    static CivetCallbacks const callbacks = [] {
        CivetCallbacks c;
        c.begin_request = &begin_request;
        return c;
    }();
    return std::make_unique<prometheus::Exposer>(bind_address, 2, &callbacks);
}

void attach(int port, std::shared_ptr<Health const> health) {
    std::lock_guard lock(table_mutex);
    table()[port] = std::move(health);
}

void detach(int port) {
    std::lock_guard lock(table_mutex);
    table().erase(port);
}

}  // namespace metrics::health_http
