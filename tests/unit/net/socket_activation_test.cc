// Unit tests for net::take_listen_fds (src/net/socket_activation.cc): which variables make
// it take descriptors 3, 4, ..., and that it unsets them whatever they said.
#include "reactor/net/socket_activation.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "test_util.h"

namespace reactor::net {
namespace {

class TakeListenFdsTest : public ::testing::Test {
 protected:
  // Descriptors 3 and 4 become two sockets of the test's (what a service manager passes);
  // whatever the process had there is moved away for the test and put back after.
  TakeListenFdsTest() {
    for (int i = 0; i < 2; ++i) {
      saved_[i] = ::fcntl(kFirst + i, F_DUPFD_CLOEXEC, 100);  // -1: it was not open
      const int s = ::socket(AF_INET, SOCK_STREAM, 0);        // inheritable, as passed
      if (s != kFirst + i) {  // the lowest free number may be the one wanted already
        EXPECT_EQ(::dup2(s, kFirst + i), kFirst + i);
        ::close(s);
      }
    }
  }
  ~TakeListenFdsTest() override {
    for (int i = 0; i < 2; ++i) {
      if (saved_[i] >= 0) {
        ::dup2(saved_[i], kFirst + i);
        ::close(saved_[i]);
      } else {
        ::close(kFirst + i);
      }
    }
    clear();
  }

  static void set(const std::string& pid, const std::string& count) {
    ::setenv("LISTEN_PID", pid.c_str(), 1);
    ::setenv("LISTEN_FDS", count.c_str(), 1);
    ::setenv("LISTEN_FDNAMES", "web:other", 1);
  }
  static void clear() {
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
  }
  static bool unset() {
    return !std::getenv("LISTEN_PID") && !std::getenv("LISTEN_FDS") &&
           !std::getenv("LISTEN_FDNAMES");
  }
  static std::string self() { return std::to_string(::getpid()); }

  static constexpr int kFirst = 3;
  int saved_[2] = {-1, -1};
};

TEST_F(TakeListenFdsTest, TakesTheNamedDescriptorsInOrderAndUnsetsTheVariables) {
  set(self(), "2");
  std::vector<UniqueFd> fds = take_listen_fds();
  ASSERT_EQ(fds.size(), 2u);
  EXPECT_EQ(fds[0].get(), 3);
  EXPECT_EQ(fds[1].get(), 4);
  EXPECT_TRUE(::fcntl(3, F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(unset());
  for (auto& fd : fds) fd.release();  // the fixture closes them
  EXPECT_TRUE(take_listen_fds().empty()) << "taken twice";
}

TEST_F(TakeListenFdsTest, IgnoresVariablesMeantForAnotherProcess) {
  set(std::to_string(::getpid() + 1), "2");
  EXPECT_TRUE(take_listen_fds().empty());
  EXPECT_TRUE(unset());
  EXPECT_FALSE(::fcntl(3, F_GETFD) & FD_CLOEXEC) << "touched a descriptor not ours";
}

TEST_F(TakeListenFdsTest, IgnoresMalformedOrMissingVariables) {
  const std::pair<std::string, std::string> cases[] = {
      {self(), ""},   {self(), "0"}, {self(), "-1"}, {self(), "2x"},
      {self(), " 2"}, {"", "2"},     {"x", "2"},     {self() + "0", "1"}};
  for (const auto& [pid, count] : cases) {
    SCOPED_TRACE("LISTEN_PID=" + pid + " LISTEN_FDS=" + count);
    set(pid, count);
    EXPECT_TRUE(take_listen_fds().empty());
    EXPECT_TRUE(unset());
  }
  EXPECT_TRUE(take_listen_fds().empty()) << "no variables at all";
}

}  // namespace
}  // namespace reactor::net
