#pragma once
// Each subcommand registers itself on the CLI and, when chosen, sets `run` to its body.
#include <CLI/CLI.hpp>
#include <functional>

namespace reactor::apps {

void add_echo_command(CLI::App& app, std::function<int()>& run);
void add_chat_command(CLI::App& app, std::function<int()>& run);
void add_udp_echo_command(CLI::App& app, std::function<int()>& run);
void add_client_command(CLI::App& app, std::function<int()>& run);
void add_http_command(CLI::App& app, std::function<int()>& run);
void add_bench_command(CLI::App& app, std::function<int()>& run);

}  // namespace reactor::apps
