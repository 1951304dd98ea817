#pragma once
// What every example server shares with `reactor echo`/`chat`/`http`, so that an example
// file holds only its server: the flags, the one `listening on` line, the exit codes and
// the drain on SIGINT/SIGTERM (apps/service.h, the same code the reactor program runs).
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "reactor/co/server.h"
#include "reactor/http/router.h"
#include "service.h"

namespace reactor::examples {

enum class Threads { one_loop, any };

/// An example's command line and life. Add the example's own flags to cli(), then call
/// serve(): it parses the command line and runs the server until SIGINT or SIGTERM.
/// Exit codes: 0 after a graceful stop, 1 if it cannot start, 2 for bad arguments.
class ServerMain {
 public:
  /// --host, --port, --backend, --drain-timeout; --threads and --balancing with
  /// Threads::any.
  ServerMain(std::string program, std::string description, Threads threads);

  CLI::App& cli() { return cli_; }

  /// Parses the arguments, then runs a co::Server that `setup` prepares (it calls serve()).
  int serve(int argc, char** argv, const std::function<void(co::Server&)>& setup);
  /// Parses the arguments, then runs an http::Server whose routes `setup` adds.
  int serve(int argc, char** argv, const std::function<void(http::Router&)>& setup);

 private:
  /// Parses the command line; returns an exit code if the program should end now.
  std::optional<int> parse(int argc, char** argv);
  int run(const apps::ServiceFactory& make);

  std::string program_;
  CLI::App cli_;
  apps::ServerFlags flags_;
};

}  // namespace reactor::examples
