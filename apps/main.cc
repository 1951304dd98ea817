// The `reactor` program: servers and tools built only on the public library API.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  // glibc raises its mmap threshold each time it frees a big mapped block, so after one
  // large request later ones come from the per-thread arenas, whose tops glibc never gives
  // back while they are below twice that threshold: a server that served a few big bodies
  // would hold tens of MiB for good. A fixed threshold (the same size above which a Buffer
  // maps its own storage) keeps big blocks mapped and returned on free.
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
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
