#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace reactor {

/// Readiness bits, the same for every backend (no <sys/epoll.h> constants leak out).
namespace io {
inline constexpr uint32_t kReadable = 1u << 0;
inline constexpr uint32_t kWritable = 1u << 1;
inline constexpr uint32_t kHangup = 1u << 2;  ///< peer closed both halves (or reset)
inline constexpr uint32_t kError = 1u << 3;   ///< error pending on the descriptor
/// Reported with kReadable: the peer closed its write half, so reading ends in EOF after
/// the bytes still queued (epoll and poll can tell; select cannot).
inline constexpr uint32_t kReadHangup = 1u << 4;
}  // namespace io

/// One ready descriptor as reported by Selector::wait: what it is ready for, and the
/// token given when it was registered.
struct ReadyEvent {
  uint32_t events;
  uint64_t token;
};

/// The demultiplexer: like Python's `selectors`, one interface over epoll, poll and select.
/// Not thread-safe; an EventLoop owns one and uses it from its own thread.
///
/// User selectors are supported (EventLoop(std::unique_ptr<Selector>)). The contract a
/// loop relies on, which every backend here keeps:
/// - add/modify/remove take effect for the next wait(); the loop never adds a descriptor
///   twice, modifies only added ones and removes each one before it is closed.
/// - add returns an error, with nothing registered, for a descriptor it refuses.
/// - wait reports each ready descriptor at most once, with the token of its latest
///   add/modify and only io:: bits (kHangup and kError even when not asked for); it must
///   really wait on the descriptors (the loop's wake-up from post() is one of them) and
///   honour the timeout: 0 polls, negative waits without limit.
/// - name() and edge_triggered() never change.
class Selector {
 public:
  virtual ~Selector() = default;

  /// Starts watching `fd` for `interest` (io::kReadable | io::kWritable, possibly 0).
  virtual std::error_code add(int fd, uint32_t interest, uint64_t token) = 0;
  virtual std::error_code modify(int fd, uint32_t interest, uint64_t token) = 0;
  virtual void remove(int fd) = 0;

  /// Waits until something is ready or `timeout` passes (negative: no limit). Replaces the
  /// contents of `ready`. EINTR is not an error: it returns with no events.
  virtual void wait(std::chrono::milliseconds timeout, std::vector<ReadyEvent>& ready) = 0;

  virtual std::string_view name() const = 0;
  /// True for edge-triggered backends: handlers must drain to EAGAIN (or requeue).
  virtual bool edge_triggered() const { return false; }
};

/// Makes a selector by name: "epoll", "epoll-et", "poll", "select", or "" for the default
/// (epoll on Linux, like selectors.DefaultSelector). Throws std::invalid_argument for an
/// unknown name and std::system_error if the backend cannot be created.
std::unique_ptr<Selector> make_selector(std::string_view name = {});

/// Every name make_selector accepts, default first.
std::span<const std::string_view> selector_names();

}  // namespace reactor
