// The `kadmium` executable: everything is in node_runtime; see node/cli.hpp.
#include "node/cli.hpp"

int main(int argc, char** argv) { return node::run_cli(argc, argv); }
