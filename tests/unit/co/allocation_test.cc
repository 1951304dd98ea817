// The coroutine layer's steady state allocates nothing per message: a coroutine echo
// server (read_some + write) and a coroutine client (write + read_exactly) over a real
// loopback connection, counted by this binary's own global operator new after a warm-up.
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "co_test_util.h"
#include "reactor/co/connect.h"
#include "reactor/co/server.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};

void* counted(std::size_t size, std::size_t align = 0) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (size == 0) size = 1;
  void* p =
      align ? std::aligned_alloc(align, (size + align - 1) / align * align) : std::malloc(size);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t size) {
  return counted(size);
}
void* operator new[](std::size_t size) {
  return counted(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
  return counted(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counted(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace reactor::co {
namespace {

using namespace std::chrono_literals;

Task<void> echo(Connection conn) {
  char buf[4096];
  while (std::size_t n = co_await conn.read_some(buf)) co_await conn.write({buf, n});
}

class CoAllocationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CoAllocationTest, AnEchoLoopAllocatesNothingPerMessage) {
  constexpr int kWarmUp = 200;
  constexpr int kMeasured = 2000;
  EventLoop loop(GetParam());
  Server server(loop, net::InetAddress::loopback_ipv4(0));
  server.serve(echo);
  server.start();
  std::size_t during = 0;
  auto client = spawn(loop, [&]() -> Task<int> {
    Connection conn = co_await connect(server.address());
    const std::string message(64, 'x');
    std::array<char, 64> reply;
    int echoed = 0;
    for (int i = 0; i < kWarmUp + kMeasured; ++i) {
      if (i == kWarmUp) {
        g_allocations = 0;
        g_counting = true;
      }
      co_await conn.write(message);
      co_await conn.read_exactly(reply);
      if (std::string_view(reply.data(), reply.size()) == message) ++echoed;
    }
    g_counting = false;
    during = g_allocations;
    co_return echoed;
  });
  ASSERT_TRUE(test::run_until_done(
      loop, client, [] {}, 30s));
  g_counting = false;
  EXPECT_EQ(client.get(), kWarmUp + kMeasured);
  EXPECT_EQ(during, 0u) << "allocations in " << kMeasured << " echoed messages";
}

// The counter itself works: the same window around work that does allocate counts it.
TEST_P(CoAllocationTest, TheCounterSeesAllocations) {
  g_allocations = 0;
  g_counting = true;
  static std::string* volatile escaped;  // so that the compiler cannot elide the new
  escaped = new std::string(1000, 'x');
  g_counting = false;
  delete escaped;
  EXPECT_GE(g_allocations.load(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, CoAllocationTest, test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor::co
