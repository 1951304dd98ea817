// Unit tests for trace mode (src/core/tracer.cc and its hooks in event_loop.cc,
// timer_queue.cc, signal_source.cc): the grammar of every line, the lines of each loop
// step (watch, interest, unwatch, wait, ready, dispatch, timer, task, signal) with their
// fields, switching at run time, batching, the default and REACTOR_TRACE. Parameterised
// over every backend; suites named ...Threads run loops on other threads (label "threads").
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reactor/core/event_loop.h"
#include "test_util.h"
#include "trace_test_util.h"

namespace reactor {
namespace {

using test::socket_pair;
using test::TraceCapture;
using test::TraceLine;
using test::write_all;
using namespace std::chrono_literals;

/// Wraps a real backend and notes, at every wait(), what the trace had flushed just
/// before the loop blocked, and after it how many events it reported: so a test can hold
/// the wait and ready lines against the real calls.
class SpySelector final : public Selector {
 public:
  struct Wait {
    long long timeout_ms;
    std::string flushed_last_line;  // the last line the sink had when wait() was called
    size_t ready;
  };

  SpySelector(std::unique_ptr<Selector> real, const TraceCapture& capture)
      : real_(std::move(real)), capture_(capture) {}

  std::error_code add(int fd, uint32_t interest, uint64_t token) override {
    return real_->add(fd, interest, token);
  }
  std::error_code modify(int fd, uint32_t interest, uint64_t token) override {
    return real_->modify(fd, interest, token);
  }
  void remove(int fd) override { real_->remove(fd); }
  void wait(std::chrono::milliseconds timeout, std::vector<ReadyEvent>& ready) override {
    std::string text = capture_.text();
    if (!text.empty()) text.pop_back();  // the '\n'
    const size_t cut = text.rfind('\n');
    std::string last = text.substr(cut == std::string::npos ? 0 : cut + 1);
    real_->wait(timeout, ready);
    waits.push_back({static_cast<long long>(timeout.count()), last, ready.size()});
  }
  std::string_view name() const override { return real_->name(); }
  bool edge_triggered() const override { return real_->edge_triggered(); }

  std::vector<Wait> waits;

 private:
  std::unique_ptr<Selector> real_;
  const TraceCapture& capture_;
};

/// Calls an action with each readiness mask it is handed, and keeps them.
class RecordingHandler final : public Handler {
 public:
  explicit RecordingHandler(std::function<void(uint32_t)> action = {})
      : action_(std::move(action)) {}
  void handle_events(uint32_t ready) override {
    got.push_back(ready);
    if (action_) action_(ready);
  }
  std::vector<uint32_t> got;

 private:
  std::function<void(uint32_t)> action_;
};

/// Runs the loop for one iteration: a posted task stops it (so the wait does not block).
void run_once(EventLoop& loop) {
  loop.post([&loop] { loop.stop(); });
  loop.run();
}

/// Runs the loop until something calls stop(), or fails after `timeout`.
bool run_until_stopped(EventLoop& loop, std::chrono::milliseconds timeout = 10s) {
  bool timed_out = false;
  TimerId guard = loop.run_after(timeout, [&] {
    timed_out = true;
    loop.stop();
  });
  loop.run();
  loop.cancel(guard);
  return !timed_out;
}

/// The lines except the loop's own rhythm (wait, ready, task), which most tests ignore.
std::vector<std::string> steps(const std::vector<TraceLine>& lines) {
  std::vector<std::string> picked;
  for (const TraceLine& l : lines)
    if (!l.is("wait") && !l.is("ready") && !l.is("task")) picked.push_back(l.text);
  return picked;
}

class TracerTest : public ::testing::TestWithParam<std::string> {
 protected:
  TracerTest() {
    auto spy = std::make_unique<SpySelector>(make_selector(GetParam()), capture_);
    spy_ = spy.get();
    loop_ = std::make_unique<EventLoop>(std::move(spy));
    loop_->set_trace(capture_.sink());
  }

  /// "trace LOOP " + rest: the whole text of one of this loop's lines.
  std::string line(const std::string& rest) const {
    return "trace " + std::to_string(loop_->index()) + " " + rest;
  }
  static std::string fd_field(int fd) { return "fd=" + std::to_string(fd); }

  test::FdLeakGuard leaks_;
  TraceCapture capture_;
  SpySelector* spy_ = nullptr;
  std::unique_ptr<EventLoop> loop_;
};

TEST_P(TracerTest, EveryLineKeepsTheGrammarAndCarriesTheLoopIndex) {
  auto [a, b] = socket_pair();
  RecordingHandler h([&](uint32_t) {
    test::drain(a.get());
    loop_->set_interest(a.get(), io::kReadable | io::kWritable);
    loop_->stop();
  });
  ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
  loop_->run_after(1ms, [&] { write_all(b.get(), "x"); });
  loop_->post([] {});
  ASSERT_TRUE(run_until_stopped(*loop_));
  loop_->unwatch(a.get());
  run_once(*loop_);

  const auto lines = capture_.lines();  // fails the test on any malformed line
  ASSERT_FALSE(lines.empty());
  std::vector<std::string> events;
  for (const TraceLine& l : lines) {
    EXPECT_EQ(l.loop, loop_->index()) << l;
    if (std::find(events.begin(), events.end(), l.event) == events.end()) events.push_back(l.event);
  }
  for (const char* e :
       {"watch", "wait", "ready", "timer", "task", "dispatch", "interest", "unwatch"})
    EXPECT_NE(std::find(events.begin(), events.end(), e), events.end()) << "no " << e << " line";
}

TEST(TraceGrammar, TheParserRejectsWhatTheGrammarForbids) {
  // The checks the other tests rely on must be able to fail.
  TraceLine l;
  EXPECT_FALSE(test::trace_line_error("trace 0 watch fd=3 interest=RW", l));
  EXPECT_FALSE(test::trace_line_error("trace 12 request fd=9 method=GET target=/a?b=c", l));
  EXPECT_FALSE(test::trace_line_error("trace 0 task", l));
  EXPECT_FALSE(test::trace_line_error("trace 0 accept fd=3 peer=127.0.0.1:80", l));
  EXPECT_FALSE(test::trace_line_error("trace 0 dispatch fd=3 events=RWHE", l));
  EXPECT_FALSE(test::trace_line_error("trace 0 wait timeout_ms=-1", l));
  for (const char* bad : {"trace 0 watch fd=3",
                          "trace 0 watch interest=R fd=3",
                          "trace 0 watch fd=3 interest=WR",
                          "trace x wait timeout_ms=1",
                          "trace 0 wait timeout_ms=-2",
                          "trace 0 dispatch fd=3 events=WR",
                          "trace 0 dispatch fd=3 events=",
                          "trace 0 close fd=3 reason=bye",
                          "trace 0 accept fd=3 peer=localhost",
                          "trace 0 frobnicate",
                          "trace 0 read fd=3 bytes=-1",
                          "trace 0 task extra=1",
                          "trace 0  task",
                          "tracer 0 task",
                          "trace 0 read fd=03 bytes=1",
                          "trace 0 accept fd=3 peer=1.2.3.4:0",
                          "trace 0 accept fd=3 peer=1.2.3:80",
                          "trace 0 accept fd=3 peer=1.2.3.4.5:80",
                          "trace 0 accept fd=3 peer=:80",
                          "trace 0 request fd=3 method=GET target=/\x01"})
    EXPECT_TRUE(test::trace_line_error(bad, l)) << "accepted: " << bad;
}

TEST_P(TracerTest, WatchInterestAndUnwatchShowTheirLetters) {
  auto [a, b] = socket_pair();
  auto [c, d] = socket_pair();
  RecordingHandler h;
  ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
  loop_->set_interest(a.get(), io::kReadable | io::kWritable);
  loop_->set_interest(a.get(), io::kReadable | io::kWritable);  // no change: no line
  loop_->set_interest(a.get(), io::kWritable);
  loop_->set_interest(a.get(), 0);
  loop_->set_interest(a.get(), io::kReadable);
  loop_->unwatch(a.get());
  loop_->unwatch(a.get());  // not watched: no line
  ASSERT_FALSE(loop_->watch(b.get(), 0, h));
  ASSERT_FALSE(loop_->watch(c.get(), io::kWritable, h));
  ASSERT_FALSE(loop_->watch(d.get(), io::kReadable | io::kWritable, h));
  loop_->unwatch(b.get());
  loop_->unwatch(c.get());
  loop_->unwatch(d.get());
  run_once(*loop_);

  const std::string fa = fd_field(a.get()), fb = fd_field(b.get()), fc = fd_field(c.get()),
                    fdd = fd_field(d.get());
  const std::vector<std::string> want = {
      line("watch " + fa + " interest=R"),
      line("interest " + fa + " from=R to=RW"),
      line("interest " + fa + " from=RW to=W"),
      line("interest " + fa + " from=W to=-"),
      line("interest " + fa + " from=- to=R"),
      line("unwatch " + fa),
      line("watch " + fb + " interest=-"),
      line("watch " + fc + " interest=W"),
      line("watch " + fdd + " interest=RW"),
      line("unwatch " + fb),
      line("unwatch " + fc),
      line("unwatch " + fdd),
  };
  EXPECT_EQ(steps(capture_.lines()), want);
}

TEST_P(TracerTest, AWaitLineBeforeEveryWaitAndAReadyLineAfterIt) {
  auto [a, b] = socket_pair();
  RecordingHandler h([&](uint32_t) {
    test::drain(a.get());
    loop_->stop();
  });
  ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
  // First a wait bounded by the timer, then (after the write) one that ends with a's data.
  loop_->run_after(20ms, [&] { write_all(b.get(), "ping"); });
  const uint64_t iterations = loop_->stats().iterations;
  ASSERT_TRUE(run_until_stopped(*loop_));
  const size_t waits = spy_->waits.size();
  ASSERT_GE(waits, 2u);
  EXPECT_EQ(waits, loop_->stats().iterations - iterations);

  std::vector<TraceLine> rhythm;
  for (auto& l : capture_.lines())
    if (l.is("wait") || l.is("ready")) rhythm.push_back(l);
  ASSERT_EQ(rhythm.size(), 2 * waits) << capture_.text();
  for (size_t i = 0; i < waits; ++i) {
    const SpySelector::Wait& w = spy_->waits[i];
    // The wait line holds the real timeout and was handed to the sink before the loop
    // blocked, as the last line of its batch.
    EXPECT_EQ(rhythm[2 * i].text, line("wait timeout_ms=" + std::to_string(w.timeout_ms)));
    EXPECT_EQ(w.flushed_last_line, rhythm[2 * i].text) << "wait " << i << " not flushed first";
    EXPECT_EQ(rhythm[2 * i + 1].text, line("ready count=" + std::to_string(w.ready)));
  }
  // The first wait was bounded by the 20 ms timer (0 if a slow start used those up, never
  // -1: unbounded); the last one brought a's readiness.
  EXPECT_GE(spy_->waits.front().timeout_ms, 0);
  EXPECT_LE(spy_->waits.front().timeout_ms, 20);
  EXPECT_EQ(spy_->waits.back().ready, 1u);
  const auto lines = capture_.lines();
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[lines.size() - 2].text, line("ready count=1"));
  EXPECT_EQ(lines.back().text, line("dispatch " + fd_field(a.get()) + " events=R"));
  loop_->unwatch(a.get());
}

TEST_P(TracerTest, AWaitWithATaskPostedDoesNotBlock) {
  loop_->post([] {});
  run_once(*loop_);
  ASSERT_FALSE(spy_->waits.empty());
  EXPECT_EQ(capture_.lines().front().text, line("wait timeout_ms=0"));
}

TEST_P(TracerTest, DispatchShowsTheLettersTheHandlerGets) {
  auto [a, b] = socket_pair();
  RecordingHandler h([&](uint32_t ready) {
    if (ready & io::kReadable) test::drain(a.get());
    loop_->stop();
  });
  auto dispatched = [&](uint32_t interest) {
    h.got.clear();
    capture_.clear();
    loop_->set_interest(a.get(), interest);
    EXPECT_TRUE(run_until_stopped(*loop_));
    std::vector<std::string> lines;
    for (auto& l : capture_.lines())
      if (l.is("dispatch", a.get())) lines.push_back(l.get("events"));
    EXPECT_EQ(lines.size(), 1u) << capture_.text();
    EXPECT_EQ(h.got.size(), 1u);
    if (lines.size() != 1 || h.got.size() != 1) return std::string("?");
    EXPECT_EQ(lines[0], test::expected_letters(h.got[0]));
    return lines[0];
  };
  ASSERT_FALSE(loop_->watch(a.get(), 0, h));
  write_all(b.get(), "x");
  EXPECT_EQ(dispatched(io::kReadable), "R");
  EXPECT_EQ(dispatched(io::kWritable), "W");
  write_all(b.get(), "y");
  EXPECT_EQ(dispatched(io::kReadable | io::kWritable), "RW");
  b.reset();  // the peer closed: hang-up where the backend can tell
  const bool tells_hangup = GetParam() != "select";
  EXPECT_EQ(dispatched(io::kReadable), tells_hangup ? "RH" : "R");
  loop_->unwatch(a.get());
}

TEST_P(TracerTest, DispatchShowsAnError) {
  // A pipe whose reader is gone: writing fails (EPIPE); epoll and poll report it as an error.
  int p[2];
  ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  UniqueFd reader(p[0]), writer(p[1]);
  reader.reset();
  RecordingHandler h([&](uint32_t) { loop_->stop(); });
  ASSERT_FALSE(loop_->watch(writer.get(), io::kWritable, h));
  ASSERT_TRUE(run_until_stopped(*loop_));
  loop_->unwatch(writer.get());
  ASSERT_EQ(h.got.size(), 1u);
  std::vector<std::string> seen;
  for (auto& l : capture_.lines())
    if (l.is("dispatch", writer.get())) seen.push_back(l.get("events"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], test::expected_letters(h.got[0]));
  if (GetParam() != "select") {
    EXPECT_NE(seen[0].find('E'), std::string::npos) << seen[0];
  }
}

TEST_P(TracerTest, TimerLinesNameTheTimerAndComeBeforeItsCallback) {
  auto [a, b] = socket_pair();
  RecordingHandler h;
  ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
  int ticks = 0;
  TimerId every, once;
  TimerId cancelled = loop_->run_after(2ms, [] { ADD_FAILURE() << "cancelled timer ran"; });
  loop_->cancel(cancelled);
  every = loop_->run_every(1ms, [&] {
    if (++ticks < 3) return;
    once = loop_->run_after(1ms, [&] {
      loop_->set_interest(a.get(), io::kReadable | io::kWritable);  // traced after the timer
      loop_->stop();
    });
    loop_->cancel(every);
  });
  ASSERT_TRUE(run_until_stopped(*loop_));
  ASSERT_NE(every.slot, once.slot);

  std::vector<std::string> got = steps(capture_.lines());
  got.erase(got.begin());  // the watch
  const std::string every_line = line("timer id=" + std::to_string(every.slot));
  const std::vector<std::string> want = {
      every_line,
      every_line,
      every_line,
      line("timer id=" + std::to_string(once.slot)),
      line("interest " + fd_field(a.get()) + " from=R to=RW"),
  };
  EXPECT_EQ(got, want);
  EXPECT_EQ(ticks, 3);
  loop_->unwatch(a.get());
}

TEST_P(TracerTest, TaskLinesOnePerTaskBeforeIt) {
  auto [a, b] = socket_pair();
  RecordingHandler h;
  for (int i = 0; i < 3; ++i)
    loop_->post([&, i] {
      // What the task does is traced after its task line.
      if (i == 1) {
        ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
      }
      if (i == 2) loop_->post([&] { loop_->stop(); });  // the next iteration's task
    });
  ASSERT_TRUE(run_until_stopped(*loop_));
  loop_->unwatch(a.get());
  std::vector<std::string> got;
  for (auto& l : capture_.lines())
    if (!l.is("wait") && !l.is("ready") && !l.is("unwatch")) got.push_back(l.text);
  const std::vector<std::string> want = {line("task"), line("task"),
                                         line("watch " + fd_field(a.get()) + " interest=R"),
                                         line("task"), line("task")};
  EXPECT_EQ(got, want);
  // The stop task ran in an iteration of its own: a wait line separates it from the rest.
  const auto lines = capture_.lines();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_TRUE(lines[lines.size() - 3].is("wait")) << capture_.text();
}

TEST_P(TracerTest, SignalLinesCarryTheSignalNumber) {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  ASSERT_FALSE(sigismember(&mask, SIGUSR1) || sigismember(&mask, SIGUSR2));
  std::vector<int> got;
  loop_->on_signal(SIGUSR1, [&](int signo) { got.push_back(signo); });
  loop_->on_signal(SIGUSR2, [&](int signo) {
    got.push_back(signo);
    if (got.size() == 2) loop_->stop();
  });
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  ASSERT_TRUE(run_until_stopped(*loop_));
  ASSERT_EQ(got.size(), 2u);

  // The signal descriptor is watched like any other; both signals come in one dispatch.
  const auto lines = capture_.lines();
  std::vector<std::string> got_steps = steps(lines);
  ASSERT_EQ(got_steps.size(), 4u) << capture_.text();
  ASSERT_TRUE(lines.front().is("watch")) << lines.front();
  const int sfd = lines.front().fd();
  EXPECT_EQ(got_steps[0], line("watch " + fd_field(sfd) + " interest=R"));
  EXPECT_EQ(got_steps[1], line("dispatch " + fd_field(sfd) + " events=R"));
  // signalfd reads pending signals lowest number first.
  EXPECT_EQ(got_steps[2], line("signal signo=" + std::to_string(SIGUSR1)));
  EXPECT_EQ(got_steps[3], line("signal signo=" + std::to_string(SIGUSR2)));
}

// set_trace(false) hands what is buffered to the sink and stops; nothing comes after.
TEST_P(TracerTest, TurnedOffItFlushesThenStaysQuiet) {
  auto [a, b] = socket_pair();
  RecordingHandler h([&](uint32_t) {
    test::drain(a.get());
    loop_->stop();
  });
  ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
  EXPECT_TRUE(capture_.batches.empty());  // buffered until the iteration ends
  loop_->set_trace(false);
  EXPECT_FALSE(loop_->tracing());
  ASSERT_EQ(capture_.batches.size(), 1u);
  EXPECT_EQ(capture_.batches[0], line("watch " + fd_field(a.get()) + " interest=R") + "\n");

  loop_->set_interest(a.get(), io::kReadable | io::kWritable);
  loop_->set_interest(a.get(), io::kReadable);
  write_all(b.get(), "x");
  loop_->post([] {});
  ASSERT_TRUE(run_until_stopped(*loop_));
  loop_->unwatch(a.get());
  EXPECT_EQ(capture_.batches.size(), 1u) << capture_.text();
}

// A handler turns tracing on while the loop runs: the lines start from there.
TEST_P(TracerTest, TurnedOnAtRunTimeItStartsThere) {
  loop_->set_trace(false);
  auto [a, b] = socket_pair();
  TraceCapture later;
  RecordingHandler h([&](uint32_t) {
    test::drain(a.get());
    if (h.got.size() == 1) {
      loop_->set_trace(later.sink());
      loop_->set_interest(a.get(), io::kReadable | io::kWritable);
      loop_->set_interest(a.get(), io::kReadable);
      write_all(b.get(), "again");
    } else {
      loop_->stop();
    }
  });
  ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
  write_all(b.get(), "x");
  ASSERT_TRUE(run_until_stopped(*loop_));
  EXPECT_TRUE(capture_.batches.empty());
  const std::string fa = fd_field(a.get());
  const std::vector<std::string> want = {line("interest " + fa + " from=R to=RW"),
                                         line("interest " + fa + " from=RW to=R"),
                                         line("dispatch " + fa + " events=R")};
  EXPECT_EQ(steps(later.lines()), want);
  // Replacing the sink hands the old one its lines; the new one gets the rest.
  TraceCapture third;
  loop_->set_interest(a.get(), io::kWritable);
  loop_->set_trace(third.sink());
  loop_->unwatch(a.get());
  run_once(*loop_);
  EXPECT_EQ(steps(later.lines()).back(), line("interest " + fa + " from=R to=W"));
  EXPECT_EQ(steps(third.lines()), std::vector<std::string>{line("unwatch " + fa)});
  // An empty sink turns tracing off.
  loop_->set_trace(EventLoop::TraceSink());
  EXPECT_FALSE(loop_->tracing());
}

/// Points stderr at a temporary file while alive; text() is what was written there.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
    std::fflush(stderr);
    ::dup2(::fileno(file_), STDERR_FILENO);
  }
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  std::string text() const {
    std::string all;
    char buf[4096];
    for (off_t at = 0;;) {
      ssize_t n = ::pread(::fileno(file_), buf, sizeof buf, at);
      if (n <= 0) return all;
      all.append(buf, static_cast<size_t>(n));
      at += n;
    }
  }

 private:
  std::FILE* file_;
  int saved_;
};

TEST_P(TracerTest, OnWithoutASinkItWritesToStderr) {
  loop_->set_trace(false);
  auto [a, b] = socket_pair();
  RecordingHandler h;
  StderrCapture err;
  loop_->post([&] {
    loop_->set_trace(true);
    ASSERT_FALSE(loop_->watch(a.get(), io::kWritable, h));
  });
  run_once(*loop_);
  loop_->unwatch(a.get());
  loop_->set_trace(false);  // flushes the unwatch
  err.restore();
  const std::vector<std::string> want = {line("watch " + fd_field(a.get()) + " interest=W"),
                                         line("unwatch " + fd_field(a.get()))};
  EXPECT_EQ(steps(test::parse_trace(err.text())), want);
}

// One call of the sink per iteration (its batch ends with the wait line), not one per line.
TEST_P(TracerTest, LinesGoToTheSinkInOneBatchPerIteration) {
  constexpr int kPairs = 8;
  std::vector<std::pair<UniqueFd, UniqueFd>> pairs;
  std::vector<std::unique_ptr<RecordingHandler>> handlers;
  int calls = 0;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(socket_pair());
    int fd = pairs.back().first.get();
    handlers.push_back(std::make_unique<RecordingHandler>([&, fd](uint32_t) {
      test::drain(fd);
      if (++calls == kPairs) loop_->stop();
    }));
    ASSERT_FALSE(loop_->watch(fd, io::kReadable, *handlers.back()));
  }
  run_once(*loop_);  // the watch lines leave in this first batch
  capture_.clear();
  const size_t waits_before = spy_->waits.size();
  for (auto& p : pairs) write_all(p.second.get(), "x");
  ASSERT_TRUE(run_until_stopped(*loop_));
  for (auto& p : pairs) loop_->unwatch(p.first.get());

  size_t lines = 0;
  for (size_t i = 0; i < capture_.batches.size(); ++i) {
    const auto batch = test::parse_trace(capture_.batches[i]);
    lines += batch.size();
    size_t waits = 0;
    for (auto& l : batch) waits += l.is("wait");
    // Every batch but the one run() flushes on its way out ends with its wait line.
    if (i + 1 < capture_.batches.size()) {
      ASSERT_FALSE(batch.empty());
      EXPECT_TRUE(batch.back().is("wait")) << capture_.batches[i];
      EXPECT_EQ(waits, 1u) << capture_.batches[i];
    }
  }
  EXPECT_EQ(capture_.batches.size(), spy_->waits.size() - waits_before + 1);
  // All eight became readable together: one iteration dispatched them all, in one batch.
  size_t biggest = 0;
  for (auto& b : capture_.batches) {
    size_t dispatches = 0;
    for (auto& l : test::parse_trace(b)) dispatches += l.is("dispatch");
    biggest = std::max(biggest, dispatches);
  }
  EXPECT_EQ(biggest, size_t{kPairs});
  EXPECT_GE(lines, capture_.batches.size() + kPairs);
}

// An iteration that writes a lot flushes early, so memory stays bounded, in whole lines.
TEST_P(TracerTest, AHugeIterationIsHandedOverInWholeLines) {
  auto [a, b] = socket_pair();
  RecordingHandler h;
  ASSERT_FALSE(loop_->watch(a.get(), io::kReadable, h));
  constexpr int kToggles = 5000;
  loop_->post([&] {
    for (int i = 0; i < kToggles; ++i)
      loop_->set_interest(a.get(), i % 2 ? io::kReadable : io::kReadable | io::kWritable);
    loop_->stop();
  });
  loop_->run();
  loop_->unwatch(a.get());
  run_once(*loop_);
  ASSERT_GE(capture_.batches.size(), 3u);  // ~40 bytes a line: well over 64 KiB
  size_t interest_lines = 0;
  for (auto& batch : capture_.batches) {
    EXPECT_LE(batch.size(), size_t{128 << 10});
    ASSERT_EQ(batch.back(), '\n');
    for (auto& l : test::parse_trace(batch)) interest_lines += l.is("interest");
  }
  EXPECT_EQ(interest_lines, size_t{kToggles});
}

INSTANTIATE_TEST_SUITE_P(Backends, TracerTest, test::all_backends(), test::backend_name);

// --- loops of their own: the default, the index, REACTOR_TRACE --------------------------

/// Restores the process-wide default when it goes.
class DefaultRestorer {
 public:
  DefaultRestorer() : saved_(EventLoop::trace_default()) {}
  ~DefaultRestorer() { EventLoop::set_trace_default(saved_); }

 private:
  bool saved_;
};

TEST(TraceDefault, LoopsMadeWhileItIsOnTraceToStderr) {
  DefaultRestorer restore;
  StderrCapture err;
  std::string want;
  EventLoop::set_trace_default(true);
  {
    EventLoop loop;
    EXPECT_TRUE(loop.tracing());
    run_once(loop);
    want = "trace " + std::to_string(loop.index()) + " wait timeout_ms=0\n";
  }
  EventLoop::set_trace_default(false);
  {
    EventLoop loop;
    EXPECT_FALSE(loop.tracing());
    run_once(loop);
  }
  err.restore();
  const std::string text = err.text();
  EXPECT_EQ(text.rfind(want, 0), 0u) << text;
  const auto lines = test::parse_trace(text);
  ASSERT_FALSE(lines.empty());
  for (auto& l : lines) EXPECT_EQ(l.loop, lines.front().loop) << "the second loop traced: " << l;
}

TEST(TraceDefault, EachLoopHasItsOwnIndexInOrderOfCreation) {
  unsigned first, second;
  {
    EventLoop loop;
    first = loop.index();
  }
  {
    EventLoop loop;
    second = loop.index();
    TraceCapture capture;
    loop.set_trace(capture.sink());
    run_once(loop);
    for (auto& l : capture.lines()) EXPECT_EQ(l.loop, second) << l;
  }
  EXPECT_GT(second, first);
}

// The environment is read once, when the library loads: only a fresh process can show
// it. The death-test child (re-executed: "threadsafe" style) inherits the variable.
TEST(TraceDefaultDeathTest, ReactorTraceOneInTheEnvironmentTurnsItOn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ::setenv("REACTOR_TRACE", "1", 1);
  EXPECT_EXIT(
      {
        EventLoop loop;
        run_once(loop);
        std::exit(loop.tracing() && EventLoop::trace_default() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "trace [0-9]+ wait timeout_ms=0\ntrace [0-9]+ ready count=0");
  for (const char* value : {"0", "", "yes", "11"}) {
    ::setenv("REACTOR_TRACE", value, 1);
    EXPECT_EXIT(
        {
          EventLoop loop;
          run_once(loop);
          std::fprintf(stderr, "off");
          std::exit(loop.tracing() || EventLoop::trace_default() ? 1 : 0);
        },
        ::testing::ExitedWithCode(0), "^off$")
        << "REACTOR_TRACE=" << value;
  }
  ::unsetenv("REACTOR_TRACE");
}

// --- other threads ------------------------------------------------------------------------

// A task posted from another thread wakes the loop through its eventfd: the trace shows
// the task, and no dispatch of a descriptor it never showed being watched (the wake-up is
// the loop's own plumbing).
TEST(TracerThreads, ATaskFromAnotherThreadShowsAsATask) {
  EventLoop loop;
  TraceCapture capture;
  loop.set_trace(capture.sink());
  std::atomic<bool> ran{false};
  std::thread poster([&] {
    loop.post([&] {
      ran = true;
      loop.stop();
    });
  });
  const bool stopped = run_until_stopped(loop);
  poster.join();
  ASSERT_TRUE(stopped);
  EXPECT_TRUE(ran);
  std::vector<int> watched;
  size_t tasks = 0;
  for (auto& l : capture.lines()) {
    tasks += l.is("task");
    if (l.is("watch")) watched.push_back(l.fd());
    if (l.is("dispatch")) {
      const bool known = std::find(watched.begin(), watched.end(), l.fd()) != watched.end();
      EXPECT_TRUE(known) << "dispatch of a descriptor never watched: " << l << "\n"
                         << capture.text();
    }
  }
  EXPECT_EQ(tasks, 1u);
}

// Loops on several threads share stderr: each batch is written whole, so lines never
// interleave, even when a batch is far larger than what a pipe writes atomically.
TEST(TracerThreads, LoopsOnSeveralThreadsNeverInterleaveLines) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd read_end(p[0]), write_end(p[1]);
  std::fflush(stderr);
  UniqueFd saved(::dup(STDERR_FILENO));
  ::dup2(write_end.get(), STDERR_FILENO);
  write_end.reset();
  std::string text;
  std::thread reader([&] {
    char buf[1024];  // small reads: writers find the pipe full and block mid-batch
    for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) > 0;)
      text.append(buf, static_cast<size_t>(n));
  });
  constexpr int kLoops = 3, kIterations = 40, kToggles = 300;
  std::vector<unsigned> indexes(kLoops);
  std::vector<std::thread> threads;
  for (int t = 0; t < kLoops; ++t)
    threads.emplace_back([&, t] {
      EventLoop loop;
      indexes[static_cast<size_t>(t)] = loop.index();
      auto [a, b] = socket_pair();
      RecordingHandler h;
      ASSERT_FALSE(loop.watch(a.get(), io::kReadable, h));
      loop.set_trace(true);
      for (int i = 0; i < kIterations; ++i) {
        loop.post([&] {  // ~12 KB of lines per iteration: one batch, beyond PIPE_BUF
          for (int k = 0; k < kToggles; ++k)
            loop.set_interest(a.get(), k % 2 ? io::kReadable : io::kReadable | io::kWritable);
          loop.stop();
        });
        loop.run();
      }
      loop.set_trace(false);
      loop.unwatch(a.get());
    });
  for (auto& t : threads) t.join();
  ::dup2(saved.get(), STDERR_FILENO);  // the last write end goes: the reader sees EOF
  reader.join();
  std::vector<size_t> per_loop(kLoops);
  for (auto& l : test::parse_trace(text)) {
    if (!l.is("interest")) continue;
    auto it = std::find(indexes.begin(), indexes.end(), l.loop);
    ASSERT_NE(it, indexes.end()) << l;
    ++per_loop[static_cast<size_t>(it - indexes.begin())];
  }
  for (size_t n : per_loop) EXPECT_EQ(n, size_t{kIterations * kToggles});
}

}  // namespace
}  // namespace reactor
