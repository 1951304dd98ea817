#include "net/acceptor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/tracer.h"
#include "net/socket_ops.h"
#include "reactor/core/log.h"

namespace reactor::net::detail {
namespace {
constexpr int kAcceptQuota = 64;
constexpr auto kExhaustedPause = std::chrono::milliseconds(100);

UniqueFd open_spare() {
  return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}
}  // namespace

Acceptor::Acceptor(EventLoop& loop, UniqueFd listen_fd, Counter& failures, Counter& out_of_fds,
                   OnAccept on_accept)
    : loop_(loop),
      listen_fd_(std::move(listen_fd)),
      spare_fd_(open_spare()),
      failures_(failures),
      out_of_fds_(out_of_fds),
      on_accept_(std::move(on_accept)) {}

Acceptor::~Acceptor() {
  if (active_) stop();
}

void Acceptor::start() {
  if (auto ec = loop_.watch(listen_fd_.get(), io::kReadable, *this))
    throw std::system_error(ec, "watch listening socket");
  active_ = true;
}

void Acceptor::stop() {
  loop_.assert_in_loop_thread();
  loop_.cancel(resume_timer_);
  loop_.unwatch(listen_fd_.get());
  listen_fd_.reset();
  active_ = false;
}

void Acceptor::handle_events(uint32_t) {
  for (int i = 0; i < kAcceptQuota; ++i) {
    int fd = detail::accept(listen_fd_.get());
    if (fd >= 0) {
      if (auto* t = reactor::detail::tracer(loop_)) [[unlikely]]
        t->line("accept", {{"fd", fd}, {"peer", detail::peer_address(fd).to_string()}});
      on_accept_(UniqueFd(fd));
      if (!active_) return;  // the callback stopped us
      continue;
    }
    switch (errno) {
      case EAGAIN:
        return;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        return on_exhausted(errno);
      default:  // ECONNABORTED, EPROTO, ...: that client is gone; try the next
        failures_.add(1);
        continue;
    }
  }
  if (loop_.edge_triggered()) loop_.requeue(listen_fd_.get(), io::kReadable);
}

void Acceptor::on_exhausted(int error) {
  failures_.add(1);
  if (error == EMFILE || error == ENFILE) {
    out_of_fds_.add(1);
    drain_backlog();
  }
  auto now = Clock::now();
  if (now - last_log_ >= std::chrono::seconds(1)) {
    last_log_ = now;
    log(LogLevel::warning, "accept: " + std::string(std::strerror(error)) +
                               "; pausing accepts for " + std::to_string(kExhaustedPause.count()) +
                               " ms (" + std::to_string(failures_.get()) + " failures so far)");
  }
  loop_.set_interest(listen_fd_.get(), 0);
  resume_timer_ = loop_.run_after(kExhaustedPause, [this] {
    resume_timer_ = {};
    if (!spare_fd_) spare_fd_ = open_spare();
    loop_.set_interest(listen_fd_.get(), io::kReadable);
  });
}

void Acceptor::drain_backlog() {
  if (!spare_fd_) return;
  // One free slot is enough: each rejected connection gives it back when it closes.
  spare_fd_.reset();
  for (int i = 0; i < kAcceptQuota; ++i) {
    UniqueFd rejected(detail::accept(listen_fd_.get()));
    if (!rejected) break;
    failures_.add(1);
    out_of_fds_.add(1);  // turned away for want of a descriptor
  }
  spare_fd_ = open_spare();
}

}  // namespace reactor::net::detail
