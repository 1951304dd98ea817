#include "net/connection_group.h"

#include "net/connection_state.h"

namespace reactor::net::detail {

ConnectionGroup* make_group(EventLoop& loop, ConnectionCallbacks callbacks,
                            ConnectionOptions options) {
  return new ConnectionGroup(loop, std::move(callbacks), options);
}

void retain(ConnectionGroup& group) noexcept {
  group.references.fetch_add(1, std::memory_order_relaxed);
}

// acq_rel: whatever a thread did with the group happens before the delete by the last one.
void release(ConnectionGroup* group) noexcept {
  if (group && group->references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete group;
}

TcpConnectionPtr ConnectionGroup::start(UniqueFd fd, std::unique_ptr<ProxyHeader> proxy) {
  const int raw = fd.get();
  auto c = std::make_shared<TcpConnection>(TcpConnection::Private{}, *this, std::move(fd));
  std::unique_ptr<SecureSession> session;
  if (security) session = security->new_session(role, raw, peer_name);
  if ((security && !session) || loop.watch(raw, io::kReadable, *c)) {
    if (security) tls_failures.add(1);
    c->write_ = WriteState::closed;  // never registered: nothing to report
    return nullptr;
  }
  if (proxy) c->io().proxy = std::move(proxy);  // before on_connect, which may ask for it
  add(c);
  if (session) {
    // on_connect waits for the handshake. A server waits for the ClientHello; a client
    // sends its own at once.
    c->start_secure(std::move(session));
    if (role == TransportSecurity::Role::client) c->secure_handshake();
    return c;
  }
  if (callbacks.on_connect) callbacks.on_connect(pointer_to(*c));
  return c;
}

}  // namespace reactor::net::detail
