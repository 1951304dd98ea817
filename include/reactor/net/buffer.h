#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace reactor::net {

/// A growable byte queue for socket I/O. It holds no memory until something is written,
/// keeps a few spare bytes in front so that a length header can be prepended without a
/// copy, and reuses its storage in the steady state (no allocation per read). Storage that
/// grew past kKeepCapacity for a big message is given back as soon as the buffer empties,
/// and storage of kMapThreshold or more is mapped from the kernel, so that it leaves the
/// process when freed instead of staying in the allocator. Not thread-safe.
///
///   +--------------+-------------------+------------------+
///   |  prependable |  readable (data)  |     writable     |
///   +--------------+-------------------+------------------+
///   0     <=     begin_     <=       end_     <=     capacity_
class Buffer {
 public:
  static constexpr size_t kPrependSpace = 8;
  /// Storage up to this size is kept when the buffer empties (steady-state reuse); larger
  /// storage is released by clear() and by a consume() that empties the buffer.
  static constexpr size_t kKeepCapacity = 128 << 10;
  /// Storage of at least this size comes from mmap (grown with mremap, no copy) rather
  /// than malloc; it is never kept while the buffer is empty.
  static constexpr size_t kMapThreshold = 256 << 10;

  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  size_t size() const { return end_ - begin_; }
  bool empty() const { return end_ == begin_; }
  size_t capacity() const { return capacity_; }
  const char* data() const { return data_ + begin_; }
  std::string_view view() const { return {data(), size()}; }

  /// Drops the first `n` readable bytes (n <= size()).
  void consume(size_t n);
  /// Drops everything; storage larger than kKeepCapacity goes too.
  void clear() {
    begin_ = end_ = static_cast<uint32_t>(kPrependSpace);
    if (capacity_ > kKeepCapacity) release_storage();
  }
  /// Removes and returns the first `n` bytes.
  std::string take(size_t n);
  std::string take_all() { return take(size()); }

  void append(std::string_view bytes) { append(bytes.data(), bytes.size()); }
  void append(const void* bytes, size_t n);
  /// Puts `n` bytes in front of the readable data; no copy of the data when they fit.
  void prepend(const void* bytes, size_t n);

  // prepare() and commit() are inline: every read goes through both, and the calls cost
  // more than their bodies.
  /// Makes room for at least `n` more bytes and returns where to write them; then commit().
  char* prepare(size_t n) {
    if (writable() < n) make_room(n);
    return data_ + end_;
  }
  size_t writable() const { return capacity_ > end_ ? capacity_ - end_ : 0; }
  void commit(size_t n) {
    if (n > writable()) [[unlikely]]
      commit_overflow();
    end_ += static_cast<uint32_t>(n);
  }

  /// Frees the storage if nothing is buffered (so an idle connection costs nothing).
  void release_if_empty();
  void swap(Buffer& other) noexcept;

 private:
  void make_room(size_t n);
  [[noreturn]] static void commit_overflow();
  void grow(size_t cap);
  void release_storage() noexcept;

  char* data_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t begin_ = kPrependSpace;
  uint32_t end_ = kPrependSpace;
};

}  // namespace reactor::net
