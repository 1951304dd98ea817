#include "server_main.h"

#include <malloc.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>

#include "reactor/http/server.h"
#include "tcp_service.h"

namespace reactor::examples {
namespace {

/// A Service around a server with start(), address() and drain(): co::Server, http::Server.
template <class S>
class Served final : public apps::Service {
 public:
  template <class... Args>
  explicit Served(Args&&... args) : server(std::forward<Args>(args)...) {}
  net::InetAddress start() override {
    server.start();
    return server.address();
  }
  void drain(std::chrono::milliseconds deadline, std::function<void()> done) override {
    server.drain(deadline, std::move(done));
  }

  S server;
};

}  // namespace

ServerMain::ServerMain(std::string program, std::string description, Threads threads)
    : program_(std::move(program)), cli_(std::move(description), program_) {
  apps::add_server_flags(cli_, flags_, threads == Threads::any);
  cli_.failure_message(CLI::FailureMessage::help);  // usage on stderr with the error
}

std::optional<int> ServerMain::parse(int argc, char** argv) {
  try {
    cli_.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return cli_.exit(e);
  } catch (const CLI::ParseError& e) {
    cli_.exit(e, std::cerr, std::cerr);
    return 2;  // like the reactor program, whatever CLI11's own code for the error
  }
  return std::nullopt;
}

int ServerMain::serve(int argc, char** argv, const std::function<void(co::Server&)>& setup) {
  if (auto code = parse(argc, argv)) return *code;
  return run([&](EventLoop& loop, const net::InetAddress& address) {
    auto service =
        std::make_unique<Served<co::Server>>(loop, address, apps::server_options(flags_));
    setup(service->server);
    return service;
  });
}

int ServerMain::serve(int argc, char** argv, const std::function<void(http::Router&)>& setup) {
  if (auto code = parse(argc, argv)) return *code;
  http::Router router;
  setup(router);
  return run([&](EventLoop& loop, const net::InetAddress& address) {
    http::ServerOptions options;
    options.tcp = apps::server_options(flags_);
    return std::make_unique<Served<http::Server>>(loop, address, router.handler(), options);
  });
}

int ServerMain::run(const apps::ServiceFactory& make) {
  // The example owns its process, as the reactor program does (apps/main.cc): a fixed mmap
  // threshold keeps big blocks mapped, so they go back to the system when freed.
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
  try {
    return apps::serve(program_.c_str(), flags_, make);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), e.what());
    return 1;
  }
}

}  // namespace reactor::examples
