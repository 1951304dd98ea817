// The `reactor` program: servers and tools built only on the public library API.
#include <cstdio>
#include <exception>
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"reactor: Reactor-pattern servers and tools on epoll"};
  app.require_subcommand(1);
  std::function<int()> run;
  reactor::apps::add_echo_command(app, run);
  reactor::apps::add_chat_command(app, run);
  reactor::apps::add_udp_echo_command(app, run);
  reactor::apps::add_client_command(app, run);
  reactor::apps::add_http_command(app, run);
  reactor::apps::add_bench_command(app, run);
  // Usage errors print the message and the (sub)command's usage on stderr.
  app.failure_message(CLI::FailureMessage::help);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e, std::cerr, std::cerr);
    return 2;  // like getopt tools, whatever CLI11's own code for the error
  }
  try {
    return run ? run() : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reactor: %s\n", e.what());
    return 1;
  }
}
