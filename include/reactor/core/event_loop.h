#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>
#include <vector>

#include "reactor/core/handler.h"
#include "reactor/core/loop_stats.h"
#include "reactor/core/selector.h"
#include "reactor/core/timer_id.h"
#include "reactor/core/unique_function.h"

namespace reactor {

class EventLoop;
namespace detail {
class TimerQueue;
class SignalSource;
class Wakeup;
class Tracer;
class LoopMeter;
inline Tracer* tracer(const EventLoop& loop);  // src/core/tracer.h
}  // namespace detail

/// The reactor: waits on a Selector and dispatches each ready descriptor to its Handler,
/// then runs due timers, then tasks posted with post(). At most one per thread; it belongs
/// to the thread that constructed it.
///
/// Thread-safety: every member is "loop thread only" (checked, aborting on misuse) unless
/// its comment says "any thread". The same holds for every class in this library.
class EventLoop {
 public:
  /// Move-only: a task may own what it captures (a UniqueFd, a Responder).
  using Task = UniqueFunction<void()>;
  using SignalCallback = UniqueFunction<void(int)>;
  /// Receives trace output: whole lines, several at a time.
  using TraceSink = UniqueFunction<void(std::string_view lines)>;
  /// Receives the reports of stalled iterations (at most one a second).
  using StallSink = UniqueFunction<void(const StallReport& report)>;

  /// `backend`: a make_selector() name; empty picks the default (epoll).
  explicit EventLoop(std::string_view backend = {});
  /// Runs on a selector of the user's own (non-null), e.g. one that wraps a backend to
  /// count or trace its calls. It must keep the Selector contract (selector.h); the loop
  /// registers its own wake-up and signal descriptors through it too.
  explicit EventLoop(std::unique_ptr<Selector> selector);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs until stop(). Tasks still posted when it stops run before it returns.
  void run();
  /// Any thread: makes run() return after the current iteration.
  void stop();
  /// Any thread: runs `task` on the loop thread after the current batch of events.
  void post(Task task);
  /// Any thread: runs `task` now when called on the loop thread, otherwise posts it.
  void dispatch(Task task);

  /// The calling thread's loop, or null if it has none.
  static EventLoop* current() noexcept;

  /// Any thread.
  bool in_loop_thread() const { return current_thread() == thread_; }
  /// Any thread: aborts with a message unless called on the loop thread. Every
  /// loop-thread-only member calls it.
  void assert_in_loop_thread() const;

  /// Starts dispatching readiness of `fd` to `handler`. `interest` may be 0. Fails (with
  /// nothing registered) when the backend refuses the descriptor.
  std::error_code watch(int fd, uint32_t interest, Handler& handler);
  void set_interest(int fd, uint32_t interest);
  uint32_t interest(int fd) const;
  /// Stops dispatching for `fd`; events already collected for it are dropped, even when
  /// the number is reused later in the same batch.
  void unwatch(int fd);
  /// For edge-triggered backends: delivers `ready` to fd's handler again next iteration
  /// (a handler that stopped at its per-wake-up quota asks for the rest this way).
  void requeue(int fd, uint32_t ready);

  /// Runs `task` once after `delay` (monotonic clock).
  TimerId run_after(Clock::duration delay, Task task);
  /// Runs `task` every `interval`; each deadline counts from the previous one, not from
  /// when the callback ran, so a slow callback does not make the schedule drift.
  TimerId run_every(Clock::duration interval, Task task);
  /// Cancels a pending timer; safe from inside that timer's own callback.
  void cancel(TimerId id);

  /// Delivers `signo` as an ordinary event (signalfd). The signal is blocked in the calling
  /// thread; register before starting other threads so that they inherit the mask.
  void on_signal(int signo, SignalCallback callback);

  /// Runs `hook` first thing when the loop is destroyed, while all of it still works: a
  /// layer above core frees what it parked on the loop (the coroutine layer destroys the
  /// coroutines still suspended on it). Hooks run in the order they were added.
  void on_destroy(Task hook);

  /// Trace mode (docs/trace.md): one line per reactor step ("trace LOOP EVENT key=value
  /// ..."), written to stderr (or `sink`) in one batch per loop iteration. Off, it costs one
  /// branch per iteration, per connection read or write, and per change of what is watched.
  /// A loop starts with trace_default(); this changes it at run time.
  void set_trace(bool on);
  void set_trace(TraceSink sink);
  bool tracing() const { return tracer_ != nullptr; }
  /// Any thread: whether loops created from now on start tracing (to stderr). Initially
  /// true when the environment has REACTOR_TRACE=1, so any program can be traced unchanged.
  static void set_trace_default(bool on);
  static bool trace_default();
  /// Metrics: the loop measures its busy and waiting time, how late its
  /// timers fire and which iterations stall (see stats()); a stalled iteration, one whose
  /// callbacks together ran longer than the stall threshold, is counted and reported, at
  /// most once a second, to on_stall's sink (default: a warning through reactor::log).
  /// Off, it costs what trace mode costs off; on, one clock read per callback. A loop
  /// starts with metrics_default().
  void set_metrics(bool on);
  bool measuring() const { return measuring_; }
  /// Zero: no iteration is a stall. A loop starts with stall_threshold_default().
  void set_stall_threshold(Clock::duration threshold);
  void on_stall(StallSink sink);
  /// Any thread: what loops created from now on start with (initially off, 100 ms).
  static void set_metrics_default(bool on);
  static bool metrics_default();
  static void set_stall_threshold_default(Clock::duration threshold);
  static Clock::duration stall_threshold_default();

  /// Any thread: this loop's number in the process, in order of creation from 0 (the LOOP
  /// of its trace lines).
  unsigned index() const { return index_; }

  /// The time at the start of the current iteration (cheap; no syscall).
  Clock::time_point now() const {
    assert_in_loop_thread();
    return now_;
  }
  /// Any thread: the selector's name() and edge_triggered(), fixed at construction.
  std::string_view backend() const { return selector_->name(); }
  bool edge_triggered() const { return selector_->edge_triggered(); }
  /// Any thread.
  LoopStats stats() const;

 private:
  struct Registration {
    Handler* handler = nullptr;
    uint32_t generation = 0;
    uint32_t interest = 0;
  };
  // Names the calling thread. Every loop-thread-only call checks it, so it is one register
  // read where the compiler offers the thread pointer (unique per live thread), not a call.
  static const void* current_thread() noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
    return __builtin_thread_pointer();
#else
    static thread_local const char tag = 0;
    return &tag;
#endif
  }
  friend detail::Tracer* detail::tracer(const EventLoop& loop);
  Registration* find(int fd);
  // kObserved: traced or measured. The plain iteration has neither hook.
  template <bool kObserved>
  void run_once();
  template <bool kObserved>
  void dispatch_ready(const ReadyEvent& event);
  template <bool kObserved>
  void run_tasks();
  void measure_io(const Handler* handler, size_t fd, uint32_t events);
  std::chrono::milliseconds wait_timeout();

  const void* thread_;  // current_thread() of the owning thread
  const unsigned index_;
  std::unique_ptr<detail::Tracer> tracer_;    // null unless tracing
  std::unique_ptr<detail::LoopMeter> meter_;  // always there (stats() reads it); used if measuring_
  bool measuring_ = false;
  StallSink stall_sink_;
  std::unique_ptr<Selector> selector_;
  std::vector<Registration> registrations_;  // indexed by descriptor
  uint32_t next_generation_ = 0;
  std::vector<ReadyEvent> ready_;
  std::vector<ReadyEvent> requeued_;  // asked for during this iteration
  std::vector<ReadyEvent> carried_;   // asked for during the previous one: run now
  std::unique_ptr<detail::TimerQueue> timers_;
  std::unique_ptr<detail::SignalSource> signals_;
  std::unique_ptr<detail::Wakeup> wakeup_;
  Clock::time_point now_;

  bool stop_ = false;  // loop thread only: other threads stop through a task
  std::atomic<bool> has_tasks_{false};
  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;
  std::vector<Task> spare_;  // an empty vector with capacity, for run_tasks()
  std::vector<Task> destroy_hooks_;
  std::atomic<uint64_t> iterations_{0};
  std::atomic<uint64_t> events_{0};
};

}  // namespace reactor
