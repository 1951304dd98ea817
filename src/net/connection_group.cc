#include "net/connection_group.h"

namespace reactor::net::detail {

GroupRef GroupRef::make(EventLoop& loop, ConnectionCallbacks callbacks, ConnectionOptions options) {
  return GroupRef(new ConnectionGroup(loop, std::move(callbacks), options));
}

GroupRef::GroupRef(const GroupRef& other) noexcept : group_(other.group_) {
  if (group_) group_->references.fetch_add(1, std::memory_order_relaxed);
}

// acq_rel: whatever a thread did with the group happens before the delete by the last one.
GroupRef::~GroupRef() {
  if (group_ && group_->references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete group_;
}

}  // namespace reactor::net::detail
