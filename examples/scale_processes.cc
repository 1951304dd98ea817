// scale_processes [PORT] [PROCESSES]: 56 lines; the tutorial's Python: 57 (seed 2's six code
// blocks, lines 45-152, together). Seed 2's scaling step over processes: PROCESSES (default 4)
// processes, forked before any loop or listener exists so that they share nothing, each with
// its own SO_REUSEPORT listener on one port: the kernel spreads the clients. Seed 2 forks after
// making both, so its processes share one epoll set (see scale_threads.cc). SIGUSR1 to the
// parent: each process prints its count. SIGINT, SIGTERM: the others stop, then the parent.
#include <reactor/net/tcp_server.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "example.h"

using namespace reactor;

int main(int argc, char** argv) {
  UniqueFd hold(::socket(AF_INET, SOCK_STREAM, 0));  // bound, never listening: holds the port
  int one = 1;
  ::setsockopt(hold.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 12345));
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  auto* sa = reinterpret_cast<sockaddr*>(&bound);
  if (::bind(hold.get(), at.sockaddr_ptr(), at.length()) || ::getsockname(hold.get(), sa, &len))
    return std::perror("scale_processes"), 1;
  at = net::InetAddress::from_sockaddr(sa, len);  // the port the kernel picked for PORT 0
  std::vector<pid_t> children;                    // the parent serves too
  bool parent = true;
  for (int i = argc > 2 ? std::atoi(argv[2]) : 4; i > 1 && parent; --i) {
    pid_t pid = ::fork();
    if (pid > 0) children.push_back(pid);
    if (pid == 0) {  // a child: passes no signals on, and ends when the parent does
      parent = false;
      children.clear();
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    }
  }
  EventLoop loop;
  net::TcpServerOptions options;
  options.balancing = net::Balancing::reuse_port;
  net::ConnectionCallbacks cb;
  cb.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& in) { c->send(in); };
  net::TcpServer server(loop, at, cb, options);
  example::stop_on_signals(loop);
  loop.on_signal(SIGUSR1, [&](int) {  // dprintf: one write(), whole on a shared pipe
    for (pid_t pid : children) ::kill(pid, SIGUSR1);
    dprintf(1, "process %d: %zu connections\n", ::getpid(), size_t(server.stats()[0].accepted));
  });
  server.start();
  if (parent) example::announce(server.address());  // the children may take a moment longer
  loop.run();
  for (pid_t pid : children) ::kill(pid, SIGTERM), ::waitpid(pid, nullptr, 0);
}
