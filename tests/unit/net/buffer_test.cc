// Unit tests for net::Buffer (src/net/buffer.cc).
#include "reactor/net/buffer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <utility>

#include "test_util.h"

namespace reactor::net {
namespace {

std::string pattern(size_t n, size_t seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

TEST(Buffer, NewBufferHoldsNoMemory) {
  Buffer b;
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.view(), "");
  EXPECT_EQ(b.writable(), 0u);
}

TEST(Buffer, AppendConsumeTake) {
  Buffer b;
  b.append("hello ");
  b.append(std::string_view("world"));
  EXPECT_EQ(b.size(), 11u);
  EXPECT_EQ(b.view(), "hello world");
  EXPECT_GT(b.capacity(), 0u);
  b.consume(6);
  EXPECT_EQ(b.view(), "world");
  EXPECT_EQ(b.take(3), "wor");
  EXPECT_EQ(b.view(), "ld");
  EXPECT_EQ(b.take_all(), "ld");
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.take(0), "");
  b.append("", 0);  // nothing: fine
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, ConsumingEverythingRewinds) {
  Buffer b;
  b.append(pattern(600));
  const size_t cap = b.capacity();
  b.consume(600);
  // The next write starts at the front again: a full-capacity append needs no growth.
  b.append(pattern(cap - Buffer::kPrependSpace));
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.view(), pattern(cap - Buffer::kPrependSpace));
}

TEST(Buffer, PrependIntoReservedSpaceIsCheap) {
  Buffer b;
  b.append("payload");
  const char* before = b.data();
  const size_t cap = b.capacity();
  const uint32_t header = 0x01020304;
  b.prepend(&header, sizeof header);
  EXPECT_EQ(b.data(), before - sizeof header);  // no copy of the payload
  EXPECT_EQ(b.capacity(), cap);
  ASSERT_EQ(b.size(), 4u + 7u);
  uint32_t got;
  std::memcpy(&got, b.data(), sizeof got);
  EXPECT_EQ(got, header);
  EXPECT_EQ(b.view().substr(4), "payload");
  // Exactly the reserved space, in two goes.
  b.prepend("ab", 2);
  b.prepend("XY", 2);
  EXPECT_EQ(b.view().substr(0, 4), "XYab");
  EXPECT_EQ(b.data(), before - Buffer::kPrependSpace);
}

TEST(Buffer, PrependBeyondReservedSpaceGrows) {
  Buffer b;
  const std::string body = pattern(2000);
  b.append(body);
  const std::string head = pattern(300, 5);
  b.prepend(head.data(), head.size());
  EXPECT_EQ(b.view(), head + body);
  b.prepend("!", 1);
  EXPECT_EQ(b.view(), "!" + head + body);
}

TEST(Buffer, PrependMoreThanTheReservedSpaceToEmptyBuffer) {
  Buffer b;
  const std::string head = pattern(100);
  b.prepend(head.data(), head.size());
  EXPECT_EQ(b.view(), head);
}

// A buffer without storage (new, moved-from, or after release_if_empty) must accept a
// small prepend too. Run in a child process: the failure mode is a crash.
std::string prepend_small_to_buffer_without_storage() {
  Buffer fresh;
  fresh.prepend("x", 1);
  fresh.append("yz");
  Buffer released;
  released.append("abc");
  released.consume(3);
  released.release_if_empty();
  released.prepend("12345678", 8);
  return std::string(fresh.view()) + "|" + std::string(released.view());
}

TEST(BufferDeathTest, SmallPrependToBufferWithoutStorage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        bool ok = prepend_small_to_buffer_without_storage() == "xyz|12345678";
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "")
      << "bug: Buffer::prepend(n <= kPrependSpace) on a buffer with no storage writes "
         "through a null data_ (src/net/buffer.cc, Buffer::prepend)";
}

TEST(Buffer, PrepareAndCommit) {
  Buffer b;
  b.append("ab");
  char* p = b.prepare(100);
  ASSERT_NE(p, nullptr);
  EXPECT_GE(b.writable(), 100u);
  EXPECT_EQ(p, b.data() + b.size());
  std::memcpy(p, "cdef", 4);
  b.commit(4);
  EXPECT_EQ(b.view(), "abcdef");
  // A prepare that is not committed adds nothing.
  b.prepare(10);
  EXPECT_EQ(b.view(), "abcdef");
  b.commit(0);
  EXPECT_EQ(b.size(), 6u);
}

TEST(Buffer, PrepareLargeOnEmptyBuffer) {
  Buffer b;
  char* p = b.prepare(1 << 20);
  EXPECT_GE(b.writable(), size_t{1} << 20);
  std::memset(p, 'z', 1 << 20);
  b.commit(1 << 20);
  EXPECT_EQ(b.size(), size_t{1} << 20);
  EXPECT_EQ(b.view().find_first_not_of('z'), std::string_view::npos);
}

TEST(Buffer, ReleaseIfEmptyFreesStorage) {
  Buffer b;
  b.append(pattern(5000));
  b.release_if_empty();  // not empty: keeps it
  EXPECT_GT(b.capacity(), 0u);
  EXPECT_EQ(b.view(), pattern(5000));
  b.consume(b.size());
  b.release_if_empty();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  b.release_if_empty();  // twice: fine
  // And the buffer works as new afterwards, prepend space included.
  b.append("abc");
  b.prepend("12", 2);
  EXPECT_EQ(b.view(), "12abc");
}

TEST(Buffer, ClearKeepsStorage) {
  Buffer b;
  b.append(pattern(100));
  const size_t cap = b.capacity();
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), cap);
}

// The steady state allocates nothing: storage of a normal size survives emptying.
TEST(Buffer, StorageUpToKeepCapacityIsKeptWhenEmptied) {
  Buffer b;
  b.append(pattern(Buffer::kKeepCapacity - Buffer::kPrependSpace));
  ASSERT_EQ(b.capacity(), Buffer::kKeepCapacity);
  b.consume(b.size());
  EXPECT_EQ(b.capacity(), Buffer::kKeepCapacity);
  b.append(pattern(10));
  b.clear();
  EXPECT_EQ(b.capacity(), Buffer::kKeepCapacity);
}

// A per-loop read scratch takes 64 KiB reads: it must be kept between reads (and a first
// request takes only what was asked, not the next power of two).
TEST(Buffer, ReadSizedPrepareIsKept) {
  Buffer b;
  b.prepare(64 << 10);
  EXPECT_EQ(b.capacity(), (64u << 10) + Buffer::kPrependSpace);
  b.commit(64 << 10);
  b.consume(b.size());
  EXPECT_EQ(b.capacity(), (64u << 10) + Buffer::kPrependSpace);
}

TEST(Buffer, StorageGrownPastKeepCapacityGoesWhenConsumed) {
  Buffer b;
  b.append(pattern(Buffer::kKeepCapacity + 1));
  ASSERT_GT(b.capacity(), Buffer::kKeepCapacity);
  b.consume(100);
  EXPECT_GT(b.capacity(), Buffer::kKeepCapacity);  // not empty yet: kept
  EXPECT_EQ(b.take_all(), pattern(Buffer::kKeepCapacity + 1).substr(100));
  EXPECT_EQ(b.capacity(), 0u);
  // Works as new afterwards, prepend space included.
  b.append("abc");
  b.prepend("12", 2);
  EXPECT_EQ(b.view(), "12abc");
}

TEST(Buffer, StorageGrownPastKeepCapacityGoesWhenCleared) {
  Buffer b;
  b.append(pattern(3 << 20));
  ASSERT_GE(b.capacity(), size_t{3} << 20);
  b.clear();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
}

// Growth across the mapping threshold (malloc -> mmap) and within it (mremap) keeps the
// bytes, including after part of them was consumed (the data does not start at the front).
TEST(Buffer, GrowthAcrossTheMapThresholdPreservesContent) {
  Buffer b;
  std::string model;
  const std::string chunk = pattern(Buffer::kMapThreshold / 3, 7);
  for (int i = 0; i < 40; ++i) {
    b.append(chunk);
    model += chunk;
    const size_t drop = static_cast<size_t>(i) * 1001 % chunk.size();
    b.consume(drop);
    model.erase(0, drop);
    ASSERT_EQ(b.view(), model) << "round " << i;
    // Prepending into mapped storage works like anywhere else.
    b.prepend("H", 1);
    ASSERT_EQ(b.take(1), "H");
  }
  EXPECT_GE(b.capacity(), Buffer::kMapThreshold);
}

// The point of mapping big storage: a big message's memory leaves the process with it.
// The malloc and free first make glibc raise its mmap threshold to 30 MiB (as a burst of
// big messages would), after which it serves a 16 MiB block from its heap and keeps it
// resident after free. Other allocators pass this either way.
TEST(Buffer, BigStorageLeavesTheProcessWhenReleased) {
  constexpr size_t kBig = 12 << 20;
  {
    auto* p = static_cast<char*>(std::malloc(30 << 20));
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, 30 << 20);
    std::free(p);
  }
  const size_t before = test::rss_bytes();
  Buffer b;
  std::memset(b.prepare(kBig), 'x', kBig);
  b.commit(kBig);
  ASSERT_GE(test::rss_bytes(), before + kBig / 2);  // the measure itself works
  b.consume(kBig);
  EXPECT_LT(test::rss_bytes(), before + kBig / 4);
}

TEST(Buffer, MoveConstructAndAssign) {
  Buffer a;
  a.append("content");
  a.consume(3);
  Buffer b(std::move(a));
  EXPECT_EQ(b.view(), "tent");
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_TRUE(a.empty());
  a.append("reused");  // a moved-from buffer is usable
  EXPECT_EQ(a.view(), "reused");

  Buffer c;
  c.append(pattern(3000));
  c = std::move(b);
  EXPECT_EQ(c.view(), "tent");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  Buffer& alias = c;
  c = std::move(alias);  // self-move leaves it intact
  EXPECT_EQ(c.view(), "tent");
}

TEST(Buffer, Swap) {
  Buffer a, b;
  a.append("one");
  b.append(pattern(2000));
  a.swap(b);
  EXPECT_EQ(a.view(), pattern(2000));
  EXPECT_EQ(b.view(), "one");
}

TEST(Buffer, CompactsInsteadOfGrowingWhenMostlyConsumed) {
  Buffer b;
  b.append(pattern(1000));
  const size_t cap = b.capacity();
  b.consume(900);
  b.append(pattern(500, 3));  // fits once the consumed front is reclaimed
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.view(), pattern(1000).substr(900) + pattern(500, 3));
}

TEST(Buffer, GrowthPreservesContent) {
  Buffer b;
  std::string model;
  for (size_t i = 1; i <= 300; ++i) {
    std::string piece = pattern(i * 37, i);
    b.append(piece);
    model += piece;
    if (i % 3 == 0) {
      b.consume(i);
      model.erase(0, i);
    }
    ASSERT_EQ(b.view(), model) << "after step " << i;
  }
}

TEST(Buffer, BigAppends) {
  Buffer b;
  const std::string chunk = pattern(1 << 20);
  for (int i = 0; i < 64; ++i) b.append(chunk);
  ASSERT_EQ(b.size(), size_t{64} << 20);
  for (int i = 0; i < 64; ++i) ASSERT_EQ(b.take(chunk.size()), chunk) << i;
  EXPECT_TRUE(b.empty());
  b.release_if_empty();
  EXPECT_EQ(b.capacity(), 0u);
}

TEST(Buffer, RandomOperationsMatchAStringModel) {
  std::mt19937 rng(12345);
  Buffer b;
  std::string model;
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 6) {
      case 0:
      case 1: {
        std::string s = pattern(rng() % 3000, static_cast<size_t>(step));
        b.append(s);
        model += s;
        break;
      }
      case 2: {
        size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
        b.consume(n);
        model.erase(0, n);
        break;
      }
      case 3: {
        size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
        ASSERT_EQ(b.take(n), model.substr(0, n));
        model.erase(0, n);
        break;
      }
      case 4: {
        std::string s = pattern(rng() % 20, static_cast<size_t>(step));
        b.prepend(s.data(), s.size());
        model.insert(0, s);
        break;
      }
      case 5: {
        size_t n = rng() % 5000;
        char* p = b.prepare(n);
        std::string s = pattern(n, 11);
        std::memcpy(p, s.data(), n);
        size_t keep = n == 0 ? 0 : rng() % (n + 1);
        b.commit(keep);
        model += s.substr(0, keep);
        break;
      }
    }
    ASSERT_EQ(b.size(), model.size()) << "step " << step;
    ASSERT_EQ(b.view(), model) << "step " << step;
    if (model.size() > (4 << 20)) {
      b.clear();
      model.clear();
    }
  }
}

TEST(BufferDeathTest, ConsumePastTheDataAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Buffer b;
  b.append("abc");
  EXPECT_DEATH(b.consume(4), "consume past the readable bytes");
  EXPECT_DEATH(b.take(4), "take past the readable bytes");
}

TEST(BufferDeathTest, CommitPastThePreparedSpaceAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Buffer b;
  b.prepare(10);
  EXPECT_DEATH(b.commit(b.writable() + 1), "commit past the prepared space");
}

}  // namespace
}  // namespace reactor::net
