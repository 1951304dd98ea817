#pragma once
// systemd socket activation (sd_listen_fds(3)): the sockets a service manager opened and
// passed to this process, so that it serves them instead of binding its own.
#include <vector>

#include "reactor/core/unique_fd.h"

namespace reactor::net {

/// The descriptors LISTEN_FDS names (3, 4, ...), when LISTEN_PID is this process; empty
/// otherwise, and for absent or malformed variables. Unsets LISTEN_PID, LISTEN_FDS and
/// LISTEN_FDNAMES in every case, so that child processes do not take them for theirs, and
/// marks the descriptors close-on-exec. Call once, before any thread starts (it changes the
/// environment). What each descriptor is gets checked by whoever adopts it
/// (TcpServer::adopt).
std::vector<UniqueFd> take_listen_fds();

}  // namespace reactor::net
