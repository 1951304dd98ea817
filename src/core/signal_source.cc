#include "core/signal_source.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include "core/check.h"
#include "core/tracer.h"
#include "reactor/core/event_loop.h"

namespace reactor::detail {

SignalSource::SignalSource(EventLoop& loop) : loop_(loop) {
  sigemptyset(&mask_);
  pthread_sigmask(SIG_SETMASK, nullptr, &previous_mask_);
}

SignalSource::~SignalSource() {
  if (!fd_) return;
  loop_.unwatch(fd_.get());
  // Take what is still pending so that unblocking does not run the default action.
  timespec zero{};
  while (sigtimedwait(&mask_, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void SignalSource::add(int signo, EventLoop::SignalCallback callback) {
  callbacks_[signo] = std::move(callback);
  sigaddset(&mask_, signo);
  // Block first, so that a signal arriving now waits in the signalfd instead of killing us.
  if (pthread_sigmask(SIG_BLOCK, &mask_, nullptr) != 0) throw_errno("pthread_sigmask");
  bool first = !fd_;
  int fd = ::signalfd(first ? -1 : fd_.get(), &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw_errno("signalfd");
  if (first) {
    fd_.reset(fd);
    if (auto ec = loop_.watch(fd, io::kReadable, *this))
      throw std::system_error(ec, "watch signalfd");
  }
}

void SignalSource::handle_events(uint32_t) {
  signalfd_siginfo info;
  while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (auto* t = tracer(loop_)) [[unlikely]]
      t->line("signal", {{"signo", info.ssi_signo}});
    auto it = callbacks_.find(static_cast<int>(info.ssi_signo));
    if (it != callbacks_.end()) it->second(static_cast<int>(info.ssi_signo));
  }
}

}  // namespace reactor::detail
