// edge_vs_level [level|edge|edge+drain]: 69 lines; the tutorial's Python: 70 (seed 5, 137-206).
// Seeds 3 and 5: level- versus edge-triggered epoll, as an experiment. 4096 bytes wait on a
// 127.0.0.1 connection; a reader takes 100 per wake-up. Level-triggered ("epoll") wakes it
// until none are left; edge-triggered ("epoll-et") wakes it once, so a reader that stops
// before EAGAIN strands the rest; edge+drain reads to EAGAIN at each wake-up. Seed 5's
// edge-triggered Loop accepts one client per wake-up (any others wait for the next client),
// and its read loop, which ends only on an exception, never ends at EOF: recv() returns b''.
#include <reactor/core/event_loop.h>
#include <reactor/core/unique_fd.h>
#include <reactor/net/inet_address.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <system_error>

using namespace reactor;
constexpr size_t kSent = 4096;

struct Reader final : Handler {  // 100 bytes per read(); one read per wake-up unless drain
  EventLoop& loop;
  int fd;
  bool drain;
  size_t got = 0, wakeups = 0, reads = 0;
  Reader(EventLoop& l, int f, bool d) : loop(l), fd(f), drain(d) {}
  void handle_events(uint32_t) override {
    ++wakeups;
    char chunk[100];
    ssize_t n;
    do {
      n = ::read(fd, chunk, sizeof chunk);  // -1 (EAGAIN) once nothing is left
      if (n > 0) got += size_t(n), ++reads;
    } while (drain && n > 0);
    if (got == kSent) loop.stop();
  }
};

int ok(long r) {  // a failed setup call ends the program with its errno
  if (r < 0) throw std::system_error(errno, std::system_category());
  return int(r);
}

void run(const std::string& mode) {  // `in` and `out`: two ends of a 127.0.0.1 connection
  UniqueFd listener(ok(::socket(AF_INET, SOCK_STREAM, 0))),
      out(ok(::socket(AF_INET, SOCK_STREAM, 0)));
  sockaddr_storage at{};
  socklen_t len = net::InetAddress::loopback_ipv4(0).length();
  ok(::bind(listener.get(), net::InetAddress::loopback_ipv4(0).sockaddr_ptr(), len));
  ok(::listen(listener.get(), 1));
  ok(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&at), &len));
  ok(::connect(out.get(), reinterpret_cast<sockaddr*>(&at), len));
  UniqueFd in(ok(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK)));
  ok(::write(out.get(), std::string(kSent, 'x').data(), kSent));  // one segment, queued at `in`
  EventLoop loop(mode == "level" ? "epoll" : "epoll-et");
  Reader reader(loop, in.get(), mode == "edge+drain");
  loop.watch(in.get(), io::kReadable, reader);
  loop.run_after(std::chrono::milliseconds(300), [&loop] { loop.stop(); });  // gave up waiting
  loop.run();
  loop.unwatch(in.get());
  std::printf("%-10s %4zu of %zu bytes read; wake-ups %zu, reads %zu%s\n", mode.c_str(), reader.got,
              kSent, reader.wakeups, reader.reads,
              reader.got < kSent ? "; then no wake-up for 300 ms" : "");
}

int main(int argc, char** argv) {
  for (const char* mode : {"level", "edge", "edge+drain"})
    if (argc < 2 || mode == std::string(argv[1])) run(mode);
}
