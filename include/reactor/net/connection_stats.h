#pragma once
#include <cstdint>

namespace reactor::net {

/// Counters for the connections of one loop (a server keeps one set per loop, so users can
/// see how evenly the load is spread). A snapshot; taken from any thread.
struct ConnectionStats {
  uint64_t open = 0;      ///< connections open now
  uint64_t accepted = 0;  ///< connections accepted (or connected) so far
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t accept_failures = 0;  ///< accepts that failed, e.g. out of descriptors (EMFILE)
  uint64_t loop_events = 0;      ///< ready descriptors the loop dispatched
};

}  // namespace reactor::net
