#pragma once
// Replaces the global operator new/delete of the test binary that includes this header (in
// exactly one of its files) with a pair that counts allocations, so a test can prove that a
// path makes none: compare test::allocations() before and after.
#include <atomic>
#include <cstdlib>
#include <new>

namespace reactor::test {
inline std::atomic<long> g_allocations{0};
inline long allocations() {
  return g_allocations.load(std::memory_order_relaxed);
}
}  // namespace reactor::test

// Neither half may be inlined: GCC would then see malloc paired with delete (or new
// with free) and warn of a mismatch that the replacement pair does not have.
[[gnu::noinline]] void* operator new(std::size_t n) {
  reactor::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
