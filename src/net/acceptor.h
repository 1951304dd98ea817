#pragma once
#include <chrono>
#include <functional>

#include "net/connection_group.h"
#include "reactor/core/event_loop.h"
#include "reactor/core/unique_fd.h"

namespace reactor::net::detail {

/// Accepts connections on a listening socket for one loop: accept4 in a loop, bounded per
/// wake-up. Out of descriptors (EMFILE/ENFILE) it must not spin: level-triggered readiness
/// would report the pending connection forever. So it closes a spare descriptor to accept
/// and immediately close what waits in the backlog (the clients see a clean close rather
/// than a hang), stops watching for a short pause, logs at most once a second, and counts.
class Acceptor final : public Handler {
 public:
  using OnAccept = std::function<void(UniqueFd)>;
  /// `failures` counts every failed accept, `out_of_fds` those for want of descriptors.
  Acceptor(EventLoop& loop, UniqueFd listen_fd, Counter& failures, Counter& out_of_fds,
           OnAccept on_accept);
  ~Acceptor();
  void start();  ///< loop thread; throws if the backend refuses the descriptor
  void stop();   ///< loop thread; stops accepting for good

  EventLoop& loop() const { return loop_; }
  bool active() const { return active_; }
  void handle_events(uint32_t ready) override;

 private:
  void on_exhausted(int error);
  void drain_backlog();

  EventLoop& loop_;
  UniqueFd listen_fd_;
  UniqueFd spare_fd_;
  Counter& failures_;
  Counter& out_of_fds_;
  OnAccept on_accept_;
  TimerId resume_timer_;
  Clock::time_point last_log_{};
  bool active_ = false;
};

}  // namespace reactor::net::detail
