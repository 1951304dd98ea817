#pragma once
#include <signal.h>

#include <map>

#include "reactor/core/event_loop.h"
#include "reactor/core/handler.h"
#include "reactor/core/unique_fd.h"

namespace reactor::detail {

/// Turns signals into ordinary readable events through one signalfd per loop.
class SignalSource final : public Handler {
 public:
  explicit SignalSource(EventLoop& loop);
  ~SignalSource();
  void add(int signo, EventLoop::SignalCallback callback);
  void handle_events(uint32_t ready) override;

 private:
  EventLoop& loop_;
  UniqueFd fd_;
  sigset_t mask_;
  sigset_t previous_mask_;
  std::map<int, EventLoop::SignalCallback> callbacks_;
};

}  // namespace reactor::detail
