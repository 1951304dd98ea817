#pragma once
// The PROXY protocol stage of a listener (TcpServerOptions::proxy): what an accepted
// descriptor goes through before it becomes a connection.
//
//   accept ──► admit ── peer not trusted ─────────────► closed, proxy_rejected + 1
//                 │
//                 ▼ watched by a ProxyStage, deadline armed
//             readable: peek, parse what was taken + what was peeked
//                 ├─ need_more ─► take every peeked byte (all header), wait ─┐
//                 │      ▲─────────────────────────────────────────────────┘
//                 ├─ complete ──► take the header's last bytes, unwatch,
//                 │               group.start(fd, header): a connection
//                 └─ error, EOF, reset, deadline ──► closed, proxy_rejected + 1
//
// Only header bytes are ever taken from the kernel: the application's first bytes stay
// there for the connection's own first read.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/connection_group.h"
#include "reactor/core/handler.h"
#include "reactor/core/timer_id.h"
#include "reactor/core/unique_fd.h"
#include "reactor/net/proxy_protocol.h"

namespace reactor::net::detail {

class ProxyStage;

/// The descriptors of one group (one loop) that wait for their PROXY header. Owned by the
/// server; loop thread of its group only.
class ProxyStages {
 public:
  ProxyStages(ConnectionGroup& group, const ProxyProtocolOptions& options);
  ~ProxyStages();
  ProxyStages(const ProxyStages&) = delete;
  ProxyStages& operator=(const ProxyStages&) = delete;

  /// A freshly accepted descriptor: closed at once unless its peer is trusted, else it
  /// waits here for its header. After close_all(), everything admitted is closed.
  void admit(UniqueFd fd);
  /// Closes every pending descriptor (drain, stop): they were no connection yet.
  void close_all();
  size_t pending() const { return stages_.size(); }

 private:
  friend class ProxyStage;
  enum class Outcome : uint8_t { rejected, timed_out, peer_closed, dropped };
  /// Ends `stage` (destroying it): `header` set hands its descriptor to the group.
  void finish(ProxyStage& stage, Outcome outcome);
  void hand_over(ProxyStage& stage);
  void remove(ProxyStage& stage);

  ConnectionGroup& group_;
  const ProxyProtocolOptions options_;
  std::vector<std::unique_ptr<ProxyStage>> stages_;  // swap-removed by slot
  std::unique_ptr<char[]> peek_;                     // kProxyV2FixedBytes + kProxyV2MaxLength
  bool closed_ = false;
};

/// One descriptor waiting for its header.
class ProxyStage final : public Handler {
 public:
  ProxyStage(ProxyStages& owner, UniqueFd fd, uint32_t slot);
  ~ProxyStage();
  void handle_events(uint32_t ready) override;

 private:
  friend class ProxyStages;
  enum class Step : uint8_t { wait, took, complete, rejected, peer_closed };
  Step read_header();
  bool take(size_t n);

  ProxyStages& owner_;
  UniqueFd fd_;
  uint32_t slot_;
  TimerId deadline_;
  std::string taken_;  // header bytes already taken from the kernel (a split header)
  ProxyHeader header_;
};

}  // namespace reactor::net::detail
