// The client side of the CLI: finds the node (DIR/api.addr and DIR/api.cookie, or --api
// and --cookie), makes one HTTP request with bounded timeouts (Beast, on a private
// io_context), and prints the answer. Failures are one line on stderr starting with
// "kadmium: ", and map to the exit codes in cli.hpp.
#pragma once

#include "core/result.hpp"
#include "node/cli.hpp"

#include <chrono>
#include <iosfwd>
#include <istream>
#include <string>

namespace node {

// Where a client command sends its request.
struct ApiTarget {
    core::Endpoint address;
    std::string origin;  // how it was found, for messages: "from /tmp/x/api.addr" or "from --api"
    std::string cookie;
};

// A failure with its exit code (2: no node or bad arguments, 1: the operation failed).
struct ClientError {
    int exit_code = 2;
    std::string message;
};

// Reads the node's address and cookie as the options say. Never touches the network.
core::Result<ApiTarget, ClientError> locate_node(ClientOptions const& options, EnvLookup const& env);

struct HttpReply {
    unsigned status = 0;
    std::string body;
};

// One HTTP/1.1 request to the node. Connecting is bounded by connect_timeout, the whole
// exchange by total_timeout. A connection failure is "no node at ADDRESS (ORIGIN): reason"
// with exit code 2.
core::Result<HttpReply, ClientError> http_call(ApiTarget const& target, std::string const& method, std::string const& path,
                                               std::string const& body, std::chrono::seconds connect_timeout,
                                               std::chrono::seconds total_timeout);

// Turns a non-200 reply into an error: the server's {"error": ...} when there is one.
ClientError reply_error(ApiTarget const& target, HttpReply const& reply);

bool is_pubsub_command(Command c);
// subscribe, unsubscribe, publish, topics (cli_pubsub.cpp). `in` feeds `publish TOPIC -`.
int run_pubsub_client(CliCommand const& command, ApiTarget const& target, std::ostream& out, std::ostream& err,
                      std::istream& in);

// history (cli_history.cpp).
int run_history_client(CliCommand const& command, ApiTarget const& target, std::ostream& out, std::ostream& err);

// The plain line of a message as `subscribe` and `history` print it (cli_pubsub.cpp):
// "TIME FROM: DATA", FROM the author id's first 8 hex digits, binary data as "base64:…",
// and " [caught up]" after FROM for a message found by catch-up.
namespace json {
struct Value;
}
std::string message_line(json::Value const& message);
std::string rfc3339_ms(std::int64_t unix_ms);

// Runs a client command and prints its result; returns the exit code.
int run_client(CliCommand const& command, EnvLookup const& env, std::ostream& out, std::ostream& err);

}  // namespace node
