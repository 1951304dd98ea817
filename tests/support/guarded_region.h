#pragma once
// Memory whose readable part ends at a PROT_NONE page: a parser handed input placed there
// faults on any read past the input's end, sanitizers or not.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

namespace reactor::test {

class GuardedRegion {
 public:
  explicit GuardedRegion(std::size_t capacity) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    usable_ = (capacity + page - 1) / page * page;
    void* p =
        ::mmap(nullptr, usable_ + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<char*>(p);
    total_ = usable_ + page;
    if (::mprotect(base_ + usable_, page, PROT_NONE) != 0) throw std::bad_alloc();
  }
  ~GuardedRegion() { ::munmap(base_, total_); }
  GuardedRegion(const GuardedRegion&) = delete;
  GuardedRegion& operator=(const GuardedRegion&) = delete;

  // Copies `s` so its last byte sits right before the PROT_NONE page.
  std::string_view place(std::string_view s) {
    char* dst = base_ + usable_ - s.size();
    std::memmove(dst, s.data(), s.size());
    return {dst, s.size()};
  }

 private:
  char* base_ = nullptr;
  std::size_t usable_ = 0;
  std::size_t total_ = 0;
};

}  // namespace reactor::test
