#pragma once
// Shared ownership of a ConnectionGroup, counted inside the group: 8 bytes where a
// shared_ptr takes 16, and every idle connection holds one. The group lives until its
// server (or client) and each of its connections have let go.
#include <utility>

#include "reactor/core/event_loop.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::net::detail {

struct ConnectionGroup;

/// A new group holding one reference, which the caller owns: give it back with release().
ConnectionGroup* make_group(EventLoop& loop, ConnectionCallbacks callbacks,
                            ConnectionOptions options);
/// Any thread. Adds a reference.
void retain(ConnectionGroup& group) noexcept;
/// Any thread. Drops a reference; the last one deletes the group.
void release(ConnectionGroup* group) noexcept;

/// A counted reference as a value, for lambdas and containers. Copies from any thread.
class GroupRef {
 public:
  GroupRef() = default;
  /// Shares `group` (adds a reference).
  explicit GroupRef(ConnectionGroup* group) noexcept : group_(group) {
    if (group_) retain(*group_);
  }
  GroupRef(const GroupRef& other) noexcept : GroupRef(other.group_) {}
  GroupRef(GroupRef&& other) noexcept : group_(std::exchange(other.group_, nullptr)) {}
  GroupRef& operator=(GroupRef other) noexcept {
    std::swap(group_, other.group_);
    return *this;
  }
  ~GroupRef() { release(group_); }
  ConnectionGroup* operator->() const { return group_; }
  ConnectionGroup& operator*() const { return *group_; }

 private:
  ConnectionGroup* group_ = nullptr;
};

}  // namespace reactor::net::detail
