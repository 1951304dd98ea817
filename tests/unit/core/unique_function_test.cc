// Unit tests for reactor::UniqueFunction (include/reactor/core/unique_function.h,
// src/core/unique_function.cc): move-only captures, inline versus heap storage (counted
// constructions and destructions, so a leak or a double destruction fails), moves, calls.
#include "reactor/core/unique_function.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "reactor/core/unique_fd.h"
#include "test_util.h"

namespace reactor {
namespace {

using Fn = UniqueFunction<int(int)>;

/// Counts live instances; `Padding` bytes make it small or large.
template <size_t Padding>
struct Counted {
  static inline int live = 0;
  static inline int constructed = 0;
  explicit Counted(int v) : value(v) { ++live, ++constructed; }
  Counted(Counted&& other) noexcept : value(other.value) { ++live, ++constructed; }
  Counted(const Counted&) = delete;
  ~Counted() { --live; }
  int operator()(int x) const { return value + x; }
  int value;
  std::array<char, Padding> padding{};
};
using Small = Counted<8>;
using Large = Counted<200>;

static_assert(sizeof(UniqueFunction<void()>) == 64, "one cache line");
static_assert(Fn::fits_inline<Small>());
static_assert(!Fn::fits_inline<Large>());
static_assert(std::is_nothrow_move_constructible_v<Fn>);
static_assert(std::is_nothrow_move_assignable_v<Fn>);
static_assert(!std::is_copy_constructible_v<Fn>);

struct Lambdas {
  // What the library posts: a shared_ptr plus a std::string (TcpConnection::send).
  static auto shared_and_string() {
    return [p = std::make_shared<int>(1), s = std::string(100, 'x')] { return *p; };
  }
};
static_assert(UniqueFunction<int()>::fits_inline<decltype(Lambdas::shared_and_string())>());

TEST(UniqueFunction, EmptyStates) {
  Fn a;
  Fn b = nullptr;
  int (*null_pointer)(int) = nullptr;
  Fn c = null_pointer;
  EXPECT_FALSE(a);
  EXPECT_FALSE(b);
  EXPECT_FALSE(c);
  Fn d = [](int x) { return x; };
  EXPECT_TRUE(d);
  d = nullptr;
  EXPECT_FALSE(d);
}

int twice(int x) {
  return 2 * x;
}

TEST(UniqueFunction, CallsThroughWithArgumentsAndResult) {
  Fn by_pointer = &twice;
  EXPECT_EQ(by_pointer(21), 42);
  int calls = 0;
  Fn stateful = [&calls, total = 0](int x) mutable {
    ++calls;
    return total += x;
  };
  EXPECT_EQ(stateful(1), 1);
  EXPECT_EQ(stateful(2), 3);  // state kept between calls
  EXPECT_EQ(calls, 2);
  // Move-only argument passed through.
  UniqueFunction<int(std::unique_ptr<int>)> take = [](std::unique_ptr<int> p) { return *p; };
  EXPECT_EQ(take(std::make_unique<int>(7)), 7);
  // Reference argument is not copied.
  UniqueFunction<void(std::string&)> append = [](std::string& s) { s += "!"; };
  std::string s = "hi";
  append(s);
  EXPECT_EQ(s, "hi!");
}

TEST(UniqueFunction, MoveOnlyCaptures) {
  auto owned = std::make_unique<int>(5);
  int* raw = owned.get();
  UniqueFunction<int*()> f = [p = std::move(owned)] { return p.get(); };
  UniqueFunction<int*()> g = std::move(f);
  EXPECT_FALSE(f);  // NOLINT(bugprone-use-after-move): moved-from is empty, by contract
  EXPECT_EQ(g(), raw);
}

TEST(UniqueFunction, OwnedDescriptorClosesWithTheFunction) {
  test::FdLeakGuard leaks;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd write_end(fds[1]);
  const int read_number = fds[0];
  {
    UniqueFunction<int()> f = [fd = UniqueFd(fds[0])] { return fd.get(); };
    UniqueFunction<int()> g = std::move(f);
    EXPECT_EQ(g(), read_number);
    EXPECT_NE(::fcntl(read_number, F_GETFD), -1) << "closed while still owned";
  }
  EXPECT_EQ(::fcntl(read_number, F_GETFD), -1) << "not closed with its owner";
}

template <class T>
void check_storage_lifetime() {
  T::live = T::constructed = 0;
  {
    Fn f = T(1);
    EXPECT_EQ(T::live, 1);
    EXPECT_EQ(f(1), 2);
    Fn g = std::move(f);
    Fn h;
    h = std::move(g);
    EXPECT_EQ(T::live, 1) << "a move left a second instance alive";
    EXPECT_EQ(h(2), 3);
    h = T(10);  // the old target is destroyed
    EXPECT_EQ(T::live, 1);
    EXPECT_EQ(h(0), 10);
  }
  EXPECT_EQ(T::live, 0) << "leaked or destroyed twice";
}

TEST(UniqueFunction, SmallTargetLivesInlineAndIsDestroyedOnce) {
  check_storage_lifetime<Small>();
  // Inline: every move of the function moves the target (constructs a new instance).
  Small::constructed = 0;
  Fn f = Small(1);
  const int after_make = Small::constructed;
  Fn g = std::move(f);
  EXPECT_EQ(Small::constructed, after_make + 1);
}

TEST(UniqueFunction, LargeTargetLivesOnTheHeapAndIsDestroyedOnce) {
  check_storage_lifetime<Large>();
  // On the heap: moving the function moves a pointer, never the target.
  Large::constructed = 0;
  Fn f = Large(1);
  const int after_make = Large::constructed;
  Fn g = std::move(f);
  Fn h = std::move(g);
  EXPECT_EQ(Large::constructed, after_make);
  EXPECT_EQ(h(1), 2);
}

TEST(UniqueFunction, SelfMoveAssignmentKeepsTheTarget) {
  Small::live = 0;
  {
    Fn f = Small(3);
    Fn& alias = f;
    f = std::move(alias);
    ASSERT_TRUE(f);
    EXPECT_EQ(f(0), 3);
    EXPECT_EQ(Small::live, 1);
  }
  EXPECT_EQ(Small::live, 0);
}

TEST(UniqueFunction, VectorOfFunctionsGrowsByMoving) {
  Small::live = 0;
  Large::live = 0;
  {
    std::vector<Fn> v;
    for (int i = 0; i < 100; ++i) {
      if (i % 2 == 0)
        v.emplace_back(Small(i));
      else
        v.emplace_back(Large(i));
    }
    for (int i = 0; i < 100; ++i) EXPECT_EQ(v[static_cast<size_t>(i)](0), i);
    EXPECT_EQ(Small::live + Large::live, 100);
  }
  EXPECT_EQ(Small::live + Large::live, 0);
}

TEST(UniqueFunctionDeathTest, CallingEmptyAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        UniqueFunction<void()> f;
        f();
      },
      "call of an empty UniqueFunction");
}

}  // namespace
}  // namespace reactor
