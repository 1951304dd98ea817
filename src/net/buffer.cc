#include "reactor/net/buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "core/check.h"

namespace reactor::net {
namespace {
constexpr size_t kMinCapacity = 1024;
constexpr size_t kMaxCapacity = UINT32_MAX;
}  // namespace

Buffer::Buffer(Buffer&& other) noexcept {
  swap(other);
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  Buffer(std::move(other)).swap(*this);
  return *this;
}

Buffer::~Buffer() {
  std::free(data_);
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
  if (begin_ == end_) clear();  // rewind: the next read lands at the front again
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

char* Buffer::prepare(size_t n) {
  if (writable() < n) make_room(n);
  return data_ + end_;
}

void Buffer::commit(size_t n) {
  REACTOR_CHECK(n <= writable(), "Buffer::commit past the prepared space");
  end_ += static_cast<uint32_t>(n);
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
  size_t want = kPrependSpace + len + n;
  REACTOR_CHECK(want <= kMaxCapacity, "Buffer larger than 4 GiB");
  size_t cap = capacity_ == 0 ? kMinCapacity : size_t{capacity_} * 2;
  while (cap < want) cap *= 2;
  if (cap > kMaxCapacity) cap = kMaxCapacity;
  auto* grown = static_cast<char*>(std::malloc(cap));
  if (grown == nullptr) throw std::bad_alloc();
  if (len > 0) std::memcpy(grown + kPrependSpace, data(), len);
  std::free(data_);
  data_ = grown;
  capacity_ = static_cast<uint32_t>(cap);
  begin_ = static_cast<uint32_t>(kPrependSpace);
  end_ = static_cast<uint32_t>(kPrependSpace + len);
}

void Buffer::release_if_empty() {
  if (!empty() || data_ == nullptr) return;
  std::free(data_);
  data_ = nullptr;
  capacity_ = 0;
  clear();
}

}  // namespace reactor::net
