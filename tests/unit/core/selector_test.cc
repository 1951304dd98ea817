// Unit tests for the Selector backends (src/core/selector.cc, epoll_selector.cc,
// poll_selector.cc, select_selector.cc): the same contract checked on every backend.
#include "reactor/core/selector.h"

#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "reactor/core/error.h"
#include "test_util.h"

namespace reactor {
namespace {

using test::socket_pair;
using test::write_all;
using namespace std::chrono_literals;

class SelectorTest : public ::testing::TestWithParam<std::string> {
 protected:
  test::FdLeakGuard leaks_;
  std::unique_ptr<Selector> selector_ = make_selector(GetParam());
  std::vector<ReadyEvent> ready_;

  void wait(std::chrono::milliseconds timeout) { selector_->wait(timeout, ready_); }
  /// Waits (bounded) until some event arrives.
  void wait_for_event() {
    for (int i = 0; i < 100 && ready_.empty(); ++i) wait(10ms);
    if (ready_.empty()) ADD_FAILURE() << "no event within 1 s";
  }
  bool is_select() const { return GetParam() == "select"; }
};

TEST_P(SelectorTest, NameMatchesRequest) {
  EXPECT_EQ(selector_->name(), GetParam());
  EXPECT_EQ(selector_->edge_triggered(), GetParam() == "epoll-et");
}

TEST_P(SelectorTest, NothingReadyReturnsEmpty) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, 1));
  wait(0ms);
  EXPECT_TRUE(ready_.empty());
  selector_->remove(a.get());
}

TEST_P(SelectorTest, ReadableReportedWithToken) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  const uint64_t token = 0xdeadbeef00000007ull;  // all 64 bits must round-trip
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, token));
  write_all(b.get(), "x");
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  EXPECT_EQ(ready_[0].token, token);
  EXPECT_EQ(ready_[0].events & (io::kReadable | io::kWritable), io::kReadable);
  selector_->remove(a.get());
}

TEST_P(SelectorTest, WritableReported) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  ASSERT_FALSE(selector_->add(a.get(), io::kWritable, 5));
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  EXPECT_EQ(ready_[0].token, 5u);
  EXPECT_EQ(ready_[0].events, io::kWritable);
  selector_->remove(a.get());
}

TEST_P(SelectorTest, ReadableAndWritableInOneEvent) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  write_all(b.get(), "x");
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable | io::kWritable, 9));
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  EXPECT_EQ(ready_[0].events, io::kReadable | io::kWritable);
  selector_->remove(a.get());
}

TEST_P(SelectorTest, ZeroInterestReportsNothing) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  write_all(b.get(), "x");
  ASSERT_FALSE(selector_->add(a.get(), 0, 1));
  wait(20ms);
  EXPECT_TRUE(ready_.empty());
  selector_->remove(a.get());
}

TEST_P(SelectorTest, ModifyChangesInterestAndToken) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  write_all(b.get(), "x");  // readable, and always writable
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, 1));
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  EXPECT_EQ(ready_[0].events, io::kReadable);
  EXPECT_EQ(ready_[0].token, 1u);

  ASSERT_FALSE(selector_->modify(a.get(), io::kWritable, 2));
  ready_.clear();
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  EXPECT_EQ(ready_[0].events, io::kWritable);  // still readable, but not asked for
  EXPECT_EQ(ready_[0].token, 2u);

  ASSERT_FALSE(selector_->modify(a.get(), 0, 3));
  wait(20ms);
  EXPECT_TRUE(ready_.empty());
  selector_->remove(a.get());
}

TEST_P(SelectorTest, LevelVersusEdgeTriggering) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, 1));
  write_all(b.get(), "x");
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  // Not read: level-triggered backends report it again, edge-triggered ones do not.
  wait(20ms);
  EXPECT_EQ(ready_.size(), selector_->edge_triggered() ? 0u : 1u);
  // A new arrival is a new edge.
  write_all(b.get(), "y");
  ready_.clear();
  wait_for_event();
  EXPECT_EQ(ready_.size(), 1u);
  selector_->remove(a.get());
}

TEST_P(SelectorTest, RemoveStopsReporting) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable | io::kWritable, 1));
  selector_->remove(a.get());
  write_all(b.get(), "x");
  wait(20ms);
  EXPECT_TRUE(ready_.empty());
  // Removed descriptors may be added again.
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, 2));
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  EXPECT_EQ(ready_[0].token, 2u);
  selector_->remove(a.get());
}

TEST_P(SelectorTest, RemoveFromTheMiddleKeepsOthers) {
  auto a1b1 = socket_pair();
  UniqueFd& a1 = a1b1.first;
  UniqueFd& b1 = a1b1.second;
  auto a2b2 = socket_pair();
  UniqueFd& a2 = a2b2.first;
  UniqueFd& b2 = a2b2.second;
  auto a3b3 = socket_pair();
  UniqueFd& a3 = a3b3.first;
  UniqueFd& b3 = a3b3.second;
  ASSERT_FALSE(selector_->add(a1.get(), io::kReadable, 1));
  ASSERT_FALSE(selector_->add(a2.get(), io::kReadable, 2));
  ASSERT_FALSE(selector_->add(a3.get(), io::kReadable, 3));
  selector_->remove(a1.get());
  ASSERT_FALSE(selector_->modify(a3.get(), io::kReadable, 33));
  write_all(b1.get(), "x");
  write_all(b2.get(), "x");
  write_all(b3.get(), "x");
  wait_for_event();
  for (int i = 0; i < 10 && ready_.size() < 2; ++i) wait(10ms);
  std::set<uint64_t> tokens;
  for (const ReadyEvent& e : ready_) tokens.insert(e.token);
  EXPECT_EQ(tokens, (std::set<uint64_t>{2, 33}));
  selector_->remove(a2.get());
  selector_->remove(a3.get());
}

TEST_P(SelectorTest, HangupReportedWhenPeerCloses) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, 1));
  b.reset();
  wait_for_event();
  ASSERT_EQ(ready_.size(), 1u);
  if (is_select()) {
    // select has no hang-up condition: the peer's close shows as readable (read gives 0).
    EXPECT_TRUE(ready_[0].events & io::kReadable);
  } else {
    EXPECT_TRUE(ready_[0].events & io::kHangup) << ready_[0].events;
  }
  char c;
  EXPECT_EQ(::read(a.get(), &c, 1), 0);
  selector_->remove(a.get());
}

TEST_P(SelectorTest, WaitTimeoutHonoured) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, 1));
  const auto start = Clock::now();
  wait(50ms);
  const auto took = Clock::now() - start;
  EXPECT_TRUE(ready_.empty());
  EXPECT_GE(took, 45ms);  // a little slack for the clock's granularity
  EXPECT_LT(took, 30s);   // not taken as "no limit"; far off, for a loaded machine
  selector_->remove(a.get());
}

TEST_P(SelectorTest, DoubleAddFails) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  ASSERT_FALSE(selector_->add(a.get(), io::kReadable, 1));
  EXPECT_EQ(selector_->add(a.get(), io::kReadable, 2), std::errc::file_exists);
  selector_->remove(a.get());
}

TEST_P(SelectorTest, ModifyOfUnknownDescriptorFails) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  EXPECT_TRUE(selector_->modify(a.get(), io::kReadable, 1));
  selector_->remove(a.get());  // harmless
}

TEST_P(SelectorTest, ManyDescriptorsInOneWait) {
  // More than the epoll backend's initial event array (256): all must be seen within a
  // couple of waits, each with its own token.
  constexpr uint64_t kPairs = 300;
  std::vector<std::pair<UniqueFd, UniqueFd>> pairs;
  for (uint64_t i = 0; i < kPairs; ++i) {
    pairs.push_back(socket_pair());
    ASSERT_FALSE(selector_->add(pairs.back().first.get(), io::kReadable, 1000 + i));
    write_all(pairs.back().second.get(), "x");
  }
  std::set<uint64_t> seen;
  for (int i = 0; i < 20 && seen.size() < kPairs; ++i) {
    wait(10ms);
    for (const ReadyEvent& e : ready_) {
      EXPECT_GE(e.token, 1000u);
      seen.insert(e.token);
    }
  }
  EXPECT_EQ(seen.size(), kPairs);
  for (auto& p : pairs) selector_->remove(p.first.get());
}

TEST_P(SelectorTest, DescriptorAboveFdSetSize) {
  constexpr int kHigh = 1100;
  static_assert(kHigh >= FD_SETSIZE);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_cur <= static_cast<rlim_t>(kHigh)) {
    rlimit raised = saved;
    raised.rlim_cur = std::min<rlim_t>(saved.rlim_max, kHigh + 1);
    if (raised.rlim_cur <= static_cast<rlim_t>(kHigh) || ::setrlimit(RLIMIT_NOFILE, &raised) != 0)
      GTEST_SKIP() << "cannot raise RLIMIT_NOFILE above " << kHigh;
  }
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  ASSERT_EQ(::fcntl(kHigh, F_GETFD), -1) << "descriptor " << kHigh << " already in use";
  ASSERT_EQ(::dup2(a.get(), kHigh), kHigh);
  UniqueFd high(kHigh);
  std::error_code ec = selector_->add(kHigh, io::kReadable, 1);
  if (is_select()) {
    EXPECT_EQ(ec, Errc::fd_beyond_select_limit);
    EXPECT_EQ(ec.category(), reactor_category());
    EXPECT_FALSE(ec.message().empty());
    wait(0ms);  // nothing was registered, and nothing broke
    EXPECT_TRUE(ready_.empty());
  } else {
    ASSERT_FALSE(ec) << ec.message();
    write_all(b.get(), "x");
    wait_for_event();
    ASSERT_EQ(ready_.size(), 1u);
    EXPECT_EQ(ready_[0].token, 1u);
    selector_->remove(kHigh);
  }
  high.reset();
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

INSTANTIATE_TEST_SUITE_P(Backends, SelectorTest,
                         test::all_backends(), test::backend_name);

TEST(MakeSelector, DefaultIsEpoll) {
  EXPECT_EQ(make_selector()->name(), "epoll");
  EXPECT_EQ(make_selector("")->name(), "epoll");
}

TEST(MakeSelector, UnknownNameThrows) {
  EXPECT_THROW(make_selector("kqueue"), std::invalid_argument);
  EXPECT_THROW(make_selector("EPOLL"), std::invalid_argument);
}

TEST(MakeSelector, NamesListsEveryBackendDefaultFirst) {
  auto names = selector_names();
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0], "epoll");
  EXPECT_EQ(std::vector<std::string_view>(names.begin(), names.end()),
            (std::vector<std::string_view>{"epoll", "epoll-et", "poll", "select"}));
  for (std::string_view name : names) EXPECT_EQ(make_selector(name)->name(), name);
}

}  // namespace
}  // namespace reactor
