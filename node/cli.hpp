// The `kadmium` command line: `kadmium node ...` runs a node, every other subcommand is a
// client of a running node's HTTP API (cli_client.hpp). parse_cli turns argv into a
// CliCommand without side effects, so tests can check it; run_cli does the work. CLI11
// lives only in cli.cpp (it costs ~4 s per translation unit to compile).
// Exit codes: 0 success, 1 the operation failed (put accepted nowhere, get found nothing,
// node error), 2 bad arguments or no node reachable.
#pragma once

#include "node/node_config.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace node {

enum class Command { node, id, status, peers, put, get, lookup, subscribe, unsubscribe, publish, topics, history };

// How a client command reaches its node.
struct ClientOptions {
    std::optional<std::string> data;    // --data DIR: DIR/api.addr and DIR/api.cookie
    std::optional<std::string> api;     // --api HOST:PORT
    std::optional<std::string> cookie;  // --cookie FILE
    bool json = false;
};

struct CliCommand {
    Command command = Command::status;
    RawNodeOptions node;
    ClientOptions client;
    std::string key;    // put, get
    bool first = false;  // get --first: print the first value found and return
    std::string value;  // put
    std::optional<std::chrono::seconds> ttl;  // put --ttl
    std::string target;                       // lookup: 64 hex digits
    std::string topic;                        // subscribe, unsubscribe, publish
    std::string message;                      // publish: the text, or "-" for stdin lines
    bool no_wait_durable = false;             // publish --no-wait-durable
    std::optional<std::string> since;         // history, subscribe --since TIME (as given)
    std::optional<std::size_t> last;          // history --last N
};

struct CliParse {
    std::optional<CliCommand> command;  // set when there is work to do
    int exit_code = 0;                  // otherwise: 0 after --help, 2 on bad arguments
    std::string out;                    // help text
    std::string err;                    // error and usage
};

// args[0] is the program name.
CliParse parse_cli(std::vector<std::string> const& args);

// main(): parses, then runs the node or the client command; returns the exit code.
int run_cli(int argc, char** argv);

}  // namespace node
