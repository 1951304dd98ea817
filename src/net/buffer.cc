#include "reactor/net/buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "core/check.h"

namespace reactor::net {
namespace {

constexpr size_t kMinCapacity = 1024;
// What capacity_ holds, rounded down to 64 KiB so that rounding a mapped size up to a
// page (of any size up to 64 KiB) cannot pass it.
constexpr size_t kMaxCapacity = UINT32_MAX & ~size_t{0xffff};

// Big storage is mapped rather than malloc'd because glibc keeps what it frees: after
// freeing a block it had mapped itself it raises its mmap threshold (up to 32 MiB), so
// every later big block comes from a per-thread arena, and an arena gives memory back only
// from its top. One 8 MiB message would leave 16 MiB resident for good. munmap cannot.
bool is_mapped(size_t capacity) {
  return capacity >= Buffer::kMapThreshold;
}

size_t round_to_page(size_t n) {
  static const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

char* map_storage(size_t n) {
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

}  // namespace

Buffer::Buffer(Buffer&& other) noexcept {
  swap(other);
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  Buffer(std::move(other)).swap(*this);
  return *this;
}

Buffer::~Buffer() {
  release_storage();
}

void Buffer::swap(Buffer& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(capacity_, other.capacity_);
  std::swap(begin_, other.begin_);
  std::swap(end_, other.end_);
}

void Buffer::consume(size_t n) {
  REACTOR_CHECK(n <= size(), "Buffer::consume past the readable bytes");
  begin_ += static_cast<uint32_t>(n);
  // Rewind, so the next read lands at the front again; storage grown for a big message goes.
  if (begin_ == end_) clear();
}

std::string Buffer::take(size_t n) {
  REACTOR_CHECK(n <= size(), "Buffer::take past the readable bytes");
  std::string out(data(), n);
  consume(n);
  return out;
}

void Buffer::append(const void* bytes, size_t n) {
  if (n == 0) return;
  std::memcpy(prepare(n), bytes, n);
  end_ += static_cast<uint32_t>(n);
}

void Buffer::prepend(const void* bytes, size_t n) {
  if (n == 0) return;
  if (data_ == nullptr) make_room(n);  // no storage yet: the front space exists only on paper
  if (begin_ < n) {
    // Not enough room in front: shift the data right (rare; headers fit kPrependSpace).
    size_t len = size();
    prepare(n);
    std::memmove(data_ + begin_ + n, data_ + begin_, len);
    begin_ += static_cast<uint32_t>(n);
    end_ += static_cast<uint32_t>(n);
  }
  begin_ -= static_cast<uint32_t>(n);
  std::memcpy(data_ + begin_, bytes, n);
}

// commit()'s REACTOR_CHECK, out of line (the public header cannot include core/check.h).
void Buffer::commit_overflow() {
  ::reactor::detail::check_failed(__FILE__, __LINE__, "n <= writable()",
                                  "Buffer::commit past the prepared space");
}

void Buffer::make_room(size_t n) {
  const size_t len = size();
  // Enough space overall once consumed bytes are reclaimed: slide the data to the front.
  if (data_ != nullptr && capacity_ - len >= n + kPrependSpace && len < capacity_ / 2) {
    std::memmove(data_ + kPrependSpace, data_ + begin_, len);
    begin_ = static_cast<uint32_t>(kPrependSpace);
    end_ = static_cast<uint32_t>(kPrependSpace + len);
    return;
  }
  const size_t want = kPrependSpace + len + n;
  REACTOR_CHECK(want <= kMaxCapacity, "Buffer larger than 4 GiB");
  // Doubling keeps appends amortised O(1); a first allocation takes just what is asked
  // (a 64 KiB read into a new buffer costs 64 KiB, not 128).
  size_t cap = std::max({want, size_t{capacity_} * 2, kMinCapacity});
  if (is_mapped(cap)) cap = round_to_page(cap);
  grow(std::min(cap, kMaxCapacity));
}

// New storage of `cap` bytes, the readable bytes moved to its front (after the prepend
// space). Mapped to mapped is an mremap: the kernel moves the pages, nothing is copied.
void Buffer::grow(size_t cap) {
  const size_t len = size();
  char* grown = nullptr;
  if (is_mapped(capacity_)) {
    void* p = ::mremap(data_, capacity_, cap, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) throw std::bad_alloc();
    grown = static_cast<char*>(p);
    if (begin_ != kPrependSpace) std::memmove(grown + kPrependSpace, grown + begin_, len);
  } else {
    grown = is_mapped(cap) ? map_storage(cap) : static_cast<char*>(std::malloc(cap));
    if (grown == nullptr) throw std::bad_alloc();
    if (len > 0) std::memcpy(grown + kPrependSpace, data(), len);
    std::free(data_);
  }
  data_ = grown;
  capacity_ = static_cast<uint32_t>(cap);
  begin_ = static_cast<uint32_t>(kPrependSpace);
  end_ = static_cast<uint32_t>(kPrependSpace + len);
}

void Buffer::release_if_empty() {
  if (empty()) release_storage();
}

void Buffer::release_storage() noexcept {
  if (is_mapped(capacity_))
    ::munmap(data_, capacity_);
  else
    std::free(data_);
  data_ = nullptr;
  capacity_ = 0;
  begin_ = end_ = static_cast<uint32_t>(kPrependSpace);
}

}  // namespace reactor::net
