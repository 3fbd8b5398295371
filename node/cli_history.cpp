// `kadmium history TOPIC [--last N] [--since TIME] [--json]`: the node's stored messages of a
// topic, oldest first, one per line in subscribe's format (or its JSON objects, each with
// its "cursor"). Pages through GET /v1/history (at most 100 messages a request) and holds
// at most one page in memory: --last N first walks backward counting to find where the
// last N begin, then prints forward from there. Errors follow cli_client.hpp.
#include "node/api_history.hpp"
#include "node/api_routes.hpp"
#include "node/cli_client.hpp"
#include "node/json.hpp"

#include <iostream>
#include <ostream>

namespace node {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t default_last = 20;

struct Page {
    json::Value messages;  // the array
    std::optional<std::string> next;
};

core::Result<Page, ClientError> fetch(ApiTarget const& target, std::string const& query) {
    auto reply = http_call(target, "GET", "/v1/history?" + query, "", 5s, 30s);
    if (!reply) return core::Err(reply.error());
    if (reply.value().status != 200) return core::Err(reply_error(target, reply.value()));
    json::Limits limits;
    limits.input_max = reply.value().body.size() + 1;
    auto v = json::parse(reply.value().body, limits);
    auto const* messages = v ? v.value().find("messages") : nullptr;
    if (!messages || !messages->is_array()) return core::Err(ClientError{1, "the node's history answer is not understood"});
    Page page;
    page.messages = *messages;
    if (auto const* next = v.value().find("next"); next && next->is_string()) page.next = next->text;
    return page;
}

std::string cursor_of(json::Value const& m) {
    auto const* c = m.find("cursor");
    return c && c->is_string() ? c->text : std::string();
}

void print(CliCommand const& cmd, json::Value const& m, std::ostream& out) {
    if (!cmd.client.json) {
        out << message_line(m) << "\n";
        return;
    }
    // Re-serialised compactly: one object per line, as `subscribe --json` prints.
    json::Writer w;
    w.begin_object();
    for (auto const& [k, v] : m.members) {
        w.key(k);
        if (v.is_string()) w.string(v.text);
        else if (v.type == json::Value::Type::boolean) w.boolean(v.boolean);
        else if (auto n = v.as_uint()) w.number(*n);
        else w.null();
    }
    w.end_object();
    out << w.take() << "\n";
}

}  // namespace

int run_history_client(CliCommand const& cmd, ApiTarget const& target, std::ostream& out, std::ostream& err) {
    auto const base = "topic=" + percent_encode(cmd.topic) + (cmd.since ? "&since=" + percent_encode(*cmd.since) : "");
    auto fail = [&](ClientError const& e) {
        err << "kadmium: " << e.message << "\n";
        return e.exit_code;
    };
    std::size_t printed = 0;
    std::optional<std::string> forward_from;  // print forward after this cursor
    std::size_t wanted = std::numeric_limits<std::size_t>::max();

    if (cmd.last || !cmd.since) {
        // Backward from the end, counting, until N are found (or the start): the oldest
        // page is printed, then the rest forward from its last message.
        wanted = cmd.last.value_or(default_last);
        std::size_t found = 0;
        std::optional<std::string> cursor;
        Page oldest;
        for (;;) {
            auto const n = std::min<std::size_t>(wanted - found, history_page_max);
            auto page = fetch(target, base + "&direction=backward&limit=" + std::to_string(n) +
                                          (cursor ? "&cursor=" + *cursor : ""));
            if (!page) return fail(page.error());
            if (page.value().messages.items.empty()) break;
            found += page.value().messages.items.size();
            cursor = page.value().next;
            oldest = std::move(page).value();
            if (!cursor || found >= wanted) break;
        }
        for (auto const& m : oldest.messages.items) print(cmd, m, out);
        printed = oldest.messages.items.size();
        if (printed == 0 || printed >= wanted) return 0;
        forward_from = cursor_of(oldest.messages.items.back());
    }
    // Forward pages, printed as they come.
    while (printed < wanted) {
        auto const n = std::min<std::size_t>(wanted - printed, history_page_max);
        auto page = fetch(target, base + "&direction=forward&limit=" + std::to_string(n) +
                                      (forward_from ? "&cursor=" + *forward_from : ""));
        if (!page) return fail(page.error());
        auto const& items = page.value().messages.items;
        for (auto const& m : items) print(cmd, m, out);
        printed += items.size();
        if (items.empty() || !page.value().next) break;
        forward_from = page.value().next;
    }
    out.flush();
    return 0;
}

}  // namespace node
