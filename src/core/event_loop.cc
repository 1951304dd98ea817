#include "reactor/core/event_loop.h"

#include <cstdlib>

#include "core/check.h"
#include "core/idle_trim.h"
#include "core/loop_meter.h"
#include "core/signal_source.h"
#include "core/timer_queue.h"
#include "core/tracer.h"
#include "core/wakeup.h"

namespace reactor {
namespace {

thread_local EventLoop* t_loop = nullptr;
std::atomic<unsigned> g_next_index{0};

// The benchmark's baseline build compiles the hooks out (core/tracer.h); there a loop never
// holds a tracer, so tracing() stays honest.
#ifdef REACTOR_NO_TRACE
constexpr bool kTraceCompiled = false;
#else
constexpr bool kTraceCompiled = true;
#endif

// A function's static, not a global: a loop built during another file's static
// initialisation still sees REACTOR_TRACE.
std::atomic<bool>& trace_default_flag() {
  static std::atomic<bool> flag{[] {
    const char* value = std::getenv("REACTOR_TRACE");
    return value != nullptr && std::string_view(value) == "1";
  }()};
  return flag;
}
struct MetricsDefaults {
  std::atomic<bool> on{false};
  std::atomic<Clock::rep> stall_threshold{
      std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(100)).count()};
};
MetricsDefaults& metrics_defaults() {
  static MetricsDefaults defaults;
  return defaults;
}

// One loop per thread, so this is the loop's: it returns freed heap once the loop is quiet.
thread_local detail::IdleTrim t_idle_trim;

// A token carries the descriptor and the generation of its registration, so an event
// collected for a registration that has since been removed (and perhaps replaced by a new
// descriptor with the same number) is recognised as stale and dropped.
uint64_t make_token(int fd, uint32_t generation) {
  return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
}
// The descriptor as a registrations_ index: tokens are made only from fd >= 0.
size_t token_index(uint64_t token) {
  return static_cast<uint32_t>(token);
}
uint32_t token_generation(uint64_t token) {
  return static_cast<uint32_t>(token >> 32);
}

}  // namespace

EventLoop::EventLoop(std::string_view backend) : EventLoop(make_selector(backend)) {}

EventLoop::EventLoop(std::unique_ptr<Selector> selector)
    : thread_(current_thread()),
      index_(g_next_index.fetch_add(1, std::memory_order_relaxed)),
      meter_(std::make_unique<detail::LoopMeter>(index_)),
      selector_(std::move(selector)),
      timers_(std::make_unique<detail::TimerQueue>()),
      wakeup_(std::make_unique<detail::Wakeup>()),
      now_(Clock::now()) {
  REACTOR_CHECK(selector_ != nullptr, "EventLoop needs a selector");
  REACTOR_CHECK(t_loop == nullptr, "only one EventLoop may exist per thread");
  if (auto ec = watch(wakeup_->fd(), io::kReadable, *wakeup_))
    throw std::system_error(ec, "watch eventfd");
  t_loop = this;
  // After the wake-up's watch: trace shows the user's descriptors, not the loop's plumbing.
  if (trace_default()) set_trace(true);
  meter_->set_stall_threshold(stall_threshold_default());
  if (metrics_default()) set_metrics(true);
}

EventLoop::~EventLoop() {
  assert_in_loop_thread();
  // A hook may add another (or post tasks, which are dropped unrun below): index, not iterate.
  for (size_t i = 0; i < destroy_hooks_.size(); ++i) {
    Task hook = std::move(destroy_hooks_[i]);
    hook();
  }
  signals_.reset();
  tracer_.reset();  // flushes; the wake-up is not traced, like its watch
  unwatch(wakeup_->fd());
  t_loop = nullptr;
}

void EventLoop::set_trace(bool on) {
  assert_in_loop_thread();
  if (on == tracing() || !kTraceCompiled) return;
  // An empty sink makes the tracer write to stderr.
  tracer_ = on ? std::make_unique<detail::Tracer>(index_, TraceSink()) : nullptr;
}

void EventLoop::set_trace(TraceSink sink) {
  assert_in_loop_thread();
  tracer_.reset();  // flushes to the previous sink
  if (sink && kTraceCompiled) tracer_ = std::make_unique<detail::Tracer>(index_, std::move(sink));
}

void EventLoop::set_trace_default(bool on) {
  trace_default_flag().store(on, std::memory_order_relaxed);
}

bool EventLoop::trace_default() {
  return trace_default_flag().load(std::memory_order_relaxed);
}

void EventLoop::set_metrics(bool on) {
  assert_in_loop_thread();
  if (on && !measuring_) meter_->restart(Clock::now());
  measuring_ = on;
}

void EventLoop::set_stall_threshold(Clock::duration threshold) {
  assert_in_loop_thread();
  meter_->set_stall_threshold(threshold);
}

void EventLoop::on_stall(StallSink sink) {
  assert_in_loop_thread();
  stall_sink_ = std::move(sink);
}

void EventLoop::set_metrics_default(bool on) {
  metrics_defaults().on.store(on, std::memory_order_relaxed);
}

bool EventLoop::metrics_default() {
  return metrics_defaults().on.load(std::memory_order_relaxed);
}

void EventLoop::set_stall_threshold_default(Clock::duration threshold) {
  metrics_defaults().stall_threshold.store(threshold.count(), std::memory_order_relaxed);
}

Clock::duration EventLoop::stall_threshold_default() {
  return Clock::duration(metrics_defaults().stall_threshold.load(std::memory_order_relaxed));
}

EventLoop* EventLoop::current() noexcept {
  return t_loop;
}

void EventLoop::on_destroy(Task hook) {
  assert_in_loop_thread();
  destroy_hooks_.push_back(std::move(hook));
}

void EventLoop::assert_in_loop_thread() const {
  REACTOR_CHECK(in_loop_thread(), "called from a thread that does not own this EventLoop");
}

void EventLoop::run() {
  assert_in_loop_thread();
  // Trace mode and metrics cost one branch per iteration here, not one per step: the
  // plain iteration has no hook at all.
  while (!stop_) {
    if (detail::tracer(*this) || measuring_) [[unlikely]]
      run_once<true>();
    else
      run_once<false>();
  }
  stop_ = false;      // run() may be called again
  run_tasks<true>();  // once, so the hook's test costs nothing
  if (tracer_) tracer_->flush();
}

// One iteration. Observed, each hook asks again whether tracing (or measuring) is on: a
// handler may turn it off (or on) in the middle; a plain iteration just starts observing
// with the next one.
template <bool kObserved>
void EventLoop::run_once() {
  // What handlers requeued last iteration runs after this iteration's fresh events;
  // what they requeue now waits for the next one.
  carried_.swap(requeued_);
  const auto timeout = t_idle_trim.bound_wait(wait_timeout(), now_);
  if constexpr (kObserved) {
    // The wait line ends the iteration's batch: what the loop did is out before it blocks.
    if (auto* t = detail::tracer(*this)) {
      t->line("wait", {{"timeout_ms", timeout.count()}});
      t->flush();
    }
  }
  selector_->wait(timeout, ready_);
  now_ = Clock::now();
  if constexpr (kObserved) {
    if (auto* t = detail::tracer(*this)) t->line("ready", {{"count", ready_.size()}});
    if (measuring_) meter_->begin(now_);
  }
  iterations_.store(iterations_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  for (const ReadyEvent& event : ready_) dispatch_ready<kObserved>(event);
  for (const ReadyEvent& event : carried_) dispatch_ready<kObserved>(event);
  carried_.clear();
  if constexpr (kObserved) {
    timers_->run_due(now_, detail::tracer(*this), measuring_ ? meter_.get() : nullptr);
    run_tasks<true>();
    if (measuring_) meter_->end(stall_sink_);
  } else {
    timers_->run_due(now_);
    run_tasks<false>();
  }
  t_idle_trim.after_iteration(now_, !ready_.empty());
}

std::chrono::milliseconds EventLoop::wait_timeout() {
  using std::chrono::milliseconds;
  if (has_tasks_.load(std::memory_order_acquire) || !carried_.empty()) return milliseconds(0);
  auto deadline = timers_->next_deadline();
  if (!deadline) return milliseconds(-1);
  auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return milliseconds(0);
  // Round up: waking a little late is fine, waking early means a useless extra iteration.
  return std::chrono::ceil<milliseconds>(left);
}

// The hot path, once per ready descriptor. A matching generation is enough to know the
// registration is live: generation 0 is never handed out and unwatch() resets the entry to
// {}, so a stale token (fd unwatched, or its number reused since) never matches. The
// handler call comes last, so nothing read from registrations_ (which the handler may
// resize by watching) is used after it, and the compiler can make it a tail call.
template <bool kObserved>
void EventLoop::dispatch_ready(const ReadyEvent& event) {
  const size_t fd = token_index(event.token);
  if (fd >= registrations_.size()) return;
  const Registration& r = registrations_[fd];
  if (r.generation != token_generation(event.token)) return;
  events_.store(events_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if constexpr (kObserved) {
    // The wake-up is the loop's plumbing, untraced like its watch: the tasks it brings
    // show as task lines.
    auto* t = detail::tracer(*this);
    if (t && r.handler != wakeup_.get())
      t->line("dispatch", {{"fd", fd}, {"events", detail::events_letters(event.events)}});
    // Copied first: the handler may resize registrations_ (r dangles after it).
    const Handler* handler = r.handler;
    r.handler->handle_events(event.events);
    if (measuring_) measure_io(handler, fd, event.events);
  } else {
    r.handler->handle_events(event.events);
  }
}

// Only compared, never called: the handler may be gone by now. The wake-up is the loop's
// plumbing: the tasks it brings are remembered one by one.
void EventLoop::measure_io(const Handler* handler, size_t fd, uint32_t events) {
  const int number = static_cast<int>(fd);
  if (handler == signals_.get())
    meter_->ran(CallbackKind::signal, number);
  else if (handler != wakeup_.get())
    meter_->ran(CallbackKind::io, number, events);
}

template <bool kObserved>
void EventLoop::run_tasks() {
  // Most iterations find no task: skip the lock then (it costs more than the rest of an
  // idle check). A post racing with this load is not lost: it sets the flag before its
  // wake-up, so the next wait returns at once and the next call takes it.
  if (!has_tasks_.load(std::memory_order_acquire)) return;
  // The batch is a local, so a task that throws or runs the loop again cannot leave a half
  // run batch behind; spare_ only lends it the capacity of the previous one (no allocation
  // per batch) and gets it back at the end.
  std::vector<Task> batch;
  batch.swap(spare_);
  {
    std::lock_guard lock(tasks_mutex_);
    batch.swap(tasks_);
    has_tasks_.store(false, std::memory_order_release);
  }
  for (Task& task : batch) {  // a task may post: to tasks_, never to batch
    if constexpr (kObserved) {
      if (auto* t = detail::tracer(*this)) t->line("task");
      task();
      if (measuring_) meter_->ran(CallbackKind::task);
    } else {
      task();
    }
  }
  batch.clear();
  spare_.swap(batch);
}

void EventLoop::stop() {
  // From another thread stop is a task: the loop sees it only by taking the task under
  // tasks_mutex_, which post() holds until its wake-up write is done. So the loop cannot
  // exit, and its owner destroy it, while a stop() is still touching it.
  if (in_loop_thread())
    stop_ = true;
  else
    post([this] { stop_ = true; });
}

void EventLoop::post(Task task) {
  std::lock_guard lock(tasks_mutex_);
  const bool first = tasks_.empty();
  tasks_.push_back(std::move(task));
  has_tasks_.store(true, std::memory_order_release);
  // Only the post that finds the queue empty wakes the loop: the queue stays non-empty
  // until run_tasks() takes it, after draining the eventfd, so that one wake-up covers
  // every later post. The write is made under the lock (see stop()). On the loop thread
  // the next wait sees has_tasks_ and does not block.
  if (first && !in_loop_thread()) wakeup_->notify();
}

void EventLoop::dispatch(Task task) {
  if (in_loop_thread())
    task();
  else
    post(std::move(task));
}

EventLoop::Registration* EventLoop::find(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= registrations_.size()) return nullptr;
  return &registrations_[static_cast<size_t>(fd)];
}

std::error_code EventLoop::watch(int fd, uint32_t interest, Handler& handler) {
  assert_in_loop_thread();
  REACTOR_CHECK(fd >= 0, "watch of a negative descriptor");
  // Exactly fd + 1 entries: the vector's capacity still grows geometrically, and the pages
  // of capacity not yet used are never touched, so they cost no memory (RSS).
  if (static_cast<size_t>(fd) >= registrations_.size())
    registrations_.resize(static_cast<size_t>(fd) + 1);
  Registration& r = registrations_[static_cast<size_t>(fd)];
  REACTOR_CHECK(r.handler == nullptr, "descriptor is already watched");
  if (++next_generation_ == 0) next_generation_ = 1;
  if (auto ec = selector_->add(fd, interest, make_token(fd, next_generation_))) return ec;
  r = {&handler, next_generation_, interest};
  if (auto* t = detail::tracer(*this)) [[unlikely]]
    t->line("watch", {{"fd", fd}, {"interest", detail::interest_letters(interest)}});
  return {};
}

void EventLoop::set_interest(int fd, uint32_t interest) {
  assert_in_loop_thread();
  Registration* r = find(fd);
  REACTOR_CHECK(r && r->handler, "set_interest on a descriptor that is not watched");
  if (r->interest == interest) return;
  if (auto* t = detail::tracer(*this)) [[unlikely]]
    t->line("interest", {{"fd", fd},
                         {"from", detail::interest_letters(r->interest)},
                         {"to", detail::interest_letters(interest)}});
  r->interest = interest;
  // Cannot fail for a descriptor the backend accepted, short of a kernel out-of-memory.
  auto ec = selector_->modify(fd, interest, make_token(fd, r->generation));
  REACTOR_CHECK(!ec, "selector modify failed");
}

uint32_t EventLoop::interest(int fd) const {
  assert_in_loop_thread();
  if (fd < 0 || static_cast<size_t>(fd) >= registrations_.size()) return 0;
  return registrations_[static_cast<size_t>(fd)].interest;
}

void EventLoop::unwatch(int fd) {
  assert_in_loop_thread();
  Registration* r = find(fd);
  if (r == nullptr || r->handler == nullptr) return;
  selector_->remove(fd);
  *r = {};
  if (auto* t = detail::tracer(*this)) [[unlikely]]
    t->line("unwatch", {{"fd", fd}});
}

void EventLoop::requeue(int fd, uint32_t ready) {
  assert_in_loop_thread();
  Registration* r = find(fd);
  if (r == nullptr || r->handler == nullptr) return;
  requeued_.push_back({ready, make_token(fd, r->generation)});
}

TimerId EventLoop::run_after(Clock::duration delay, Task task) {
  assert_in_loop_thread();
  return timers_->add(Clock::now() + delay, Clock::duration::zero(), std::move(task));
}

TimerId EventLoop::run_every(Clock::duration interval, Task task) {
  assert_in_loop_thread();
  REACTOR_CHECK(interval.count() > 0, "run_every needs a positive interval");
  return timers_->add(Clock::now() + interval, interval, std::move(task));
}

void EventLoop::cancel(TimerId id) {
  assert_in_loop_thread();
  timers_->cancel(id);
}

void EventLoop::on_signal(int signo, SignalCallback callback) {
  assert_in_loop_thread();
  if (!signals_) signals_ = std::make_unique<detail::SignalSource>(*this);
  signals_->add(signo, std::move(callback));
}

LoopStats EventLoop::stats() const {
  LoopStats s;
  s.iterations = iterations_.load(std::memory_order_relaxed);
  s.events = events_.load(std::memory_order_relaxed);
  meter_->fill(s);
  return s;
}

}  // namespace reactor
