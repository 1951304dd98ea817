// Unit tests for the log sink (include/reactor/core/log.h, src/core/log.cc): a custom sink
// gets level and message, the level filter, the default stderr sink (captured through a
// pipe), and log() from several threads while the sink is replaced (suite LogThreads).
#include "reactor/core/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "reactor/core/unique_fd.h"

namespace reactor {
namespace {

/// Leaves the process-wide log state as it found it (default sink, level info).
class LogTest : public ::testing::Test {
 protected:
  void TearDown() override {
    set_log_sink({});
    set_log_level(LogLevel::info);
  }
};

struct Entry {
  LogLevel level;
  std::string message;
};

TEST_F(LogTest, CustomSinkReceivesLevelAndMessage) {
  std::vector<Entry> got;
  set_log_sink([&](LogLevel level, std::string_view message) {
    got.push_back({level, std::string(message)});
  });
  log(LogLevel::warning, "accept: too many open files");
  log(LogLevel::error, std::string_view("with\0nul", 8));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].level, LogLevel::warning);
  EXPECT_EQ(got[0].message, "accept: too many open files");
  EXPECT_EQ(got[1].level, LogLevel::error);
  EXPECT_EQ(got[1].message, std::string("with\0nul", 8));
}

TEST_F(LogTest, LevelFilterDropsLowerLevels) {
  std::vector<LogLevel> got;
  set_log_sink([&](LogLevel level, std::string_view) { got.push_back(level); });
  // Default: info and above.
  EXPECT_FALSE(log_enabled(LogLevel::debug));
  EXPECT_TRUE(log_enabled(LogLevel::info));
  for (LogLevel l : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error})
    log(l, "x");
  EXPECT_EQ(got, (std::vector<LogLevel>{LogLevel::info, LogLevel::warning, LogLevel::error}));

  got.clear();
  set_log_level(LogLevel::error);
  EXPECT_FALSE(log_enabled(LogLevel::warning));
  for (LogLevel l : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error})
    log(l, "x");
  EXPECT_EQ(got, (std::vector<LogLevel>{LogLevel::error}));

  got.clear();
  set_log_level(LogLevel::debug);
  for (LogLevel l : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error})
    log(l, "x");
  EXPECT_EQ(got.size(), 4u);
}

TEST_F(LogTest, LevelNames) {
  EXPECT_EQ(to_string(LogLevel::debug), "debug");
  EXPECT_EQ(to_string(LogLevel::info), "info");
  EXPECT_EQ(to_string(LogLevel::warning), "warning");
  EXPECT_EQ(to_string(LogLevel::error), "error");
}

/// Points stderr at a pipe while it lives; read() returns what was written meanwhile.
class StderrCapture {
 public:
  StderrCapture() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) ADD_FAILURE() << "pipe2";
    read_end_.reset(fds[0]);
    UniqueFd write_end(fds[1]);
    saved_.reset(::dup(STDERR_FILENO));
    if (::dup2(write_end.get(), STDERR_FILENO) != STDERR_FILENO) ADD_FAILURE() << "dup2";
  }
  ~StderrCapture() { restore(); }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  /// Puts stderr back, then returns everything captured.
  std::string finish() {
    restore();
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_end_.get(), buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  void restore() {
    if (saved_) ::dup2(saved_.get(), STDERR_FILENO);
    saved_.reset();
  }
  UniqueFd read_end_;
  UniqueFd saved_;
};

TEST_F(LogTest, EmptySinkRestoresTheStderrDefault) {
  int custom = 0;
  set_log_sink([&](LogLevel, std::string_view) { ++custom; });
  {
    StderrCapture capture;
    log(LogLevel::warning, "to the sink");
    EXPECT_EQ(capture.finish(), "");
  }
  EXPECT_EQ(custom, 1);

  set_log_sink({});
  StderrCapture capture;
  log(LogLevel::warning, "accept: out of descriptors");
  log(LogLevel::debug, "filtered out");
  log(LogLevel::error, "second line");
  EXPECT_EQ(capture.finish(),
            "reactor: warning: accept: out of descriptors\nreactor: error: second line\n");
  EXPECT_EQ(custom, 1) << "the replaced sink was called after set_log_sink({})";
}

// Several threads log while the main thread swaps the sink between two counting sinks:
// every message reaches exactly one of them, none is lost or doubled (and TSan sees no race).
TEST(LogThreads, ConcurrentLogWhileTheSinkIsReplaced) {
  constexpr int kThreads = 4, kEach = 2000, kSwaps = 200;
  auto first = std::make_shared<std::atomic<int>>(0);
  auto second = std::make_shared<std::atomic<int>>(0);
  auto sink_for = [](std::shared_ptr<std::atomic<int>> counter) {
    return [counter](LogLevel level, std::string_view message) {
      if (level == LogLevel::warning && message == "from a thread") ++*counter;
    };
  };
  set_log_sink(sink_for(first));
  std::atomic<int> running{kThreads};
  std::vector<std::thread> loggers;
  for (int t = 0; t < kThreads; ++t)
    loggers.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) log(LogLevel::warning, "from a thread");
      --running;
    });
  // Swap while the loggers run (bounded: kSwaps, then wait for them).
  for (int s = 0; s < kSwaps && running.load() > 0; ++s) {
    set_log_sink(sink_for(s % 2 == 0 ? second : first));
    set_log_level(LogLevel::info);  // concurrent level writes are allowed too
    std::this_thread::yield();
  }
  for (auto& t : loggers) t.join();
  set_log_sink({});
  EXPECT_EQ(first->load() + second->load(), kThreads * kEach);
}

}  // namespace
}  // namespace reactor
