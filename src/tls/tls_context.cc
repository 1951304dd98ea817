// TlsContext on OpenSSL 3: one SSL_CTX per server certificate (the first is the default;
// the servername callback switches a connection to the one its SNI name selects), or one
// for a client, with the client's session cache beside it.
#include "reactor/tls/tls_context.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "core/check.h"
#include "tls/server_names.h"
#include "tls/socket_bio.h"
#include "tls/tls_session.h"

namespace reactor::tls {
namespace {

struct FreeContext {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct FreeSession {
  void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
};
using ContextPtr = std::unique_ptr<SSL_CTX, FreeContext>;
using SessionPtr = std::unique_ptr<SSL_SESSION, FreeSession>;

// A client remembers the latest session of this many servers; past it, one is forgotten.
constexpr size_t kMaxRememberedServers = 1000;

/// Throws for the failed OpenSSL call's reason, e.g. "<what>: no start line".
[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(detail::drain_errors(), what);
}

[[noreturn]] void fail_config(const std::string& what) {
  throw std::system_error(std::make_error_code(std::errc::invalid_argument), what);
}

/// OpenSSL reports a missing file as a PEM or BIO error; errno says it plainly.
void check_readable(const std::string& path, const std::string& kind) {
  if (path.empty()) fail_config("no " + kind + " file given");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  int error = fd < 0 ? errno : 0;
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) error = EISDIR;
  if (fd >= 0) ::close(fd);
  if (error != 0)
    throw std::system_error(error, std::system_category(), "cannot read " + kind + " " + path);
}

int protocol_version(Version v) {
  return v == Version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

/// What every context shares, server or client.
ContextPtr new_context(const SSL_METHOD* method, Version min_version) {
  ContextPtr ctx(SSL_CTX_new(method));
  if (!ctx) fail("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), protocol_version(min_version));
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Partial writes and a moving buffer: the connection hands over what its output buffer
  // holds, which may move between a write that wanted more and its retry. Idle
  // connections give their read and write buffers back.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  // One recv() takes whatever the socket holds, not a record header then its body; the
  // connection asks SSL_has_pending() for what it took beyond the record it decrypted.
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  return ctx;
}

/// ALPN's wire format: each protocol prefixed by its length (RFC 7301).
std::vector<unsigned char> alpn_wire(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255)
      fail_config("ALPN protocol \"" + p + "\" is not 1 to 255 bytes");
    wire.push_back(static_cast<unsigned char>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  return wire;
}

/// OpenSSL decodes a certificate's extensions on first use and keeps them in it. For the
/// CA certificates that every connection shares, that is done here, once, not by the first
/// verifications on several loop threads at a time (ThreadSanitizer reports them racing).
void cache_extensions(X509_STORE* store) {
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i)))
      X509_check_purpose(cert, -1, 0);  // -1: only caches the extensions
  }
}

bool is_ip_literal(const std::string& name) {
  unsigned char address[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, name.c_str(), address) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), address) == 1;
}

/// Which server a client connection's session belongs to: the name it was made for.
int peer_name_index() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* name, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::string*>(name);
      });
  return index;
}

}  // namespace

struct TlsContext::Impl {
  Role role = Role::server;
  std::vector<ContextPtr> contexts;             // the first is the default, and a client's only one
  std::vector<std::vector<std::string>> names;  // a server's, by context
  std::vector<std::string> alpn;                // a server's choice, most preferred first
  bool resumption = false;                      // a client's

  mutable std::mutex mutex;  // a client's sessions, used from every loop
  std::unordered_map<std::string, SessionPtr> sessions;

  void load_certificate(SSL_CTX* ctx, const Certificate& cert) const;
  bool prepare_client(SSL* ssl, const std::string& peer_name) const;
  void offer_session(SSL* ssl, const std::string& peer_name) const;
  void remember_session(const std::string& peer_name, SessionPtr session);
};

void TlsContext::Impl::load_certificate(SSL_CTX* ctx, const Certificate& cert) const {
  const std::string& chain = cert.chain_file;
  check_readable(chain, "certificate chain");
  if (SSL_CTX_use_certificate_chain_file(ctx, chain.c_str()) != 1)
    fail("certificate chain " + chain + " holds no usable PEM certificate");
  check_readable(cert.key_file, "private key");
  const std::string mismatch =
      "private key " + cert.key_file + " does not match certificate " + chain;
  if (SSL_CTX_use_PrivateKey_file(ctx, cert.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    unsigned long e = ERR_peek_error();
    bool mismatched =
        ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
                                           ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
    fail(mismatched ? mismatch
                    : "private key " + cert.key_file + " holds no usable PEM private key");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) fail(mismatch);
}

namespace {

/// The servername callback: moves the connection to the context of the certificate its
/// SNI name selects. Tickets stay valid across contexts: OpenSSL seals and opens them
/// with the keys of the connection's first context (its session_ctx), the default one.
int select_context(SSL* ssl, int*, void* arg) {
  const auto* impl = static_cast<const TlsContext::Impl*>(arg);
  const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (host == nullptr) return SSL_TLSEXT_ERR_NOACK;
  size_t chosen = detail::select_certificate(impl->names, host);
  if (chosen != 0 && SSL_set_SSL_CTX(ssl, impl->contexts[chosen].get()) == nullptr)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  return SSL_TLSEXT_ERR_OK;
}

/// The server's ALPN choice: its most preferred protocol that the client offered. A client
/// that offered only others is refused (no_application_protocol), as RFC 7301 asks.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void* arg) {
  const auto* impl = static_cast<const TlsContext::Impl*>(arg);
  for (const std::string& ours : impl->alpn) {
    for (unsigned int i = 0; i < in_len && in[i] < in_len - i; i += 1u + in[i]) {
      if (in[i] == ours.size() && std::memcmp(in + i + 1, ours.data(), ours.size()) == 0) {
        *out = in + i + 1;
        *out_len = in[i];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/// The client's new-session callback (a TLS 1.3 ticket arrives after the handshake). The
/// cache keeps a copy: OpenSSL marks the connection's own session unresumable when the
/// connection is freed without having sent close_notify (ssl_clear_bad_session), as one
/// the server closed or reset has not; the ticket is still good.
int remember_session(SSL* ssl, SSL_SESSION* session) {
  auto* impl = static_cast<TlsContext::Impl*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* name = static_cast<const std::string*>(SSL_get_ex_data(ssl, peer_name_index()));
  if (impl != nullptr && name != nullptr) {
    if (SessionPtr copy{SSL_SESSION_dup(session)}) impl->remember_session(*name, std::move(copy));
  }
  return 0;  // OpenSSL keeps its reference
}

}  // namespace

void TlsContext::Impl::remember_session(const std::string& peer_name, SessionPtr session) {
  std::lock_guard lock(mutex);
  if (sessions.size() >= kMaxRememberedServers && !sessions.contains(peer_name))
    sessions.erase(sessions.begin());
  sessions[peer_name] = std::move(session);
}

void TlsContext::Impl::offer_session(SSL* ssl, const std::string& peer_name) const {
  auto* name = new std::string(peer_name);
  if (SSL_set_ex_data(ssl, peer_name_index(), name) != 1) {
    delete name;
    return;
  }
  SessionPtr copy;
  {
    std::lock_guard lock(mutex);
    auto it = sessions.find(peer_name);
    if (it != sessions.end()) copy.reset(SSL_SESSION_dup(it->second.get()));
  }
  // Each connection gets its own copy: OpenSSL marks a connection's session unresumable
  // when that connection fails, which must not spoil it for the others, on any thread.
  if (copy && SSL_SESSION_is_resumable(copy.get())) SSL_set_session(ssl, copy.get());
}

bool TlsContext::Impl::prepare_client(SSL* ssl, const std::string& peer_name) const {
  if (is_ip_literal(peer_name)) {
    // No SNI for an address (RFC 6066); the certificate must name the address itself.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), peer_name.c_str()) != 1) return false;
  } else if (!peer_name.empty()) {
    if (SSL_set_tlsext_host_name(ssl, peer_name.c_str()) != 1) return false;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, peer_name.c_str()) != 1) return false;
  }
  if (resumption && !peer_name.empty()) offer_session(ssl, peer_name);
  return true;
}

std::shared_ptr<TlsContext> TlsContext::server(const ServerConfig& config) {
  if (config.certificates.empty()) fail_config("a TLS server needs a certificate");
  alpn_wire(config.alpn);  // validates the protocols
  auto impl = std::make_unique<Impl>();
  impl->alpn = config.alpn;
  for (const Certificate& cert : config.certificates) {
    ContextPtr ctx = new_context(TLS_server_method(), config.min_version);
    // With tickets (stateless), the client keeps its session: a server-side cache would
    // only cost a locked insertion per full handshake and memory per session, as nginx's
    // default (ssl_session_cache none) avoids. Without tickets, the cache resumes by ID.
    if (config.session_tickets) {
      SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    } else {
      SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    }
    // A ticket per handshake is enough: a client resumes one connection at a time.
    SSL_CTX_set_num_tickets(ctx.get(), config.session_tickets ? 1 : 0);
    if (!config.alpn.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, impl.get());
    impl->load_certificate(ctx.get(), cert);
    impl->names.push_back(detail::certificate_names(SSL_CTX_get0_certificate(ctx.get())));
    impl->contexts.push_back(std::move(ctx));
  }
  if (impl->contexts.size() > 1) {
    SSL_CTX_set_tlsext_servername_callback(impl->contexts[0].get(), select_context);
    SSL_CTX_set_tlsext_servername_arg(impl->contexts[0].get(), impl.get());
  }
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

std::shared_ptr<TlsContext> TlsContext::client(const ClientConfig& config) {
  std::vector<unsigned char> alpn = alpn_wire(config.alpn);
  auto impl = std::make_unique<Impl>();
  impl->role = Role::client;
  ContextPtr ctx = new_context(TLS_client_method(), config.min_version);
  SSL_CTX_set_verify(ctx.get(), config.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!config.ca_file.empty()) {
    check_readable(config.ca_file, "CA file");
    if (SSL_CTX_load_verify_locations(ctx.get(), config.ca_file.c_str(), nullptr) != 1)
      fail("CA file " + config.ca_file + " holds no usable PEM certificate");
    cache_extensions(SSL_CTX_get_cert_store(ctx.get()));
  } else if (config.verify && SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    fail("cannot load the system's CA certificates");
  }
  if (!alpn.empty() &&
      SSL_CTX_set_alpn_protos(ctx.get(), alpn.data(), static_cast<unsigned>(alpn.size())) != 0)
    fail("SSL_CTX_set_alpn_protos");
  impl->resumption = config.session_resumption;
  if (config.session_resumption) {
    // Sessions go to Impl's map by server name, not OpenSSL's internal client cache
    // (which nothing looks up): the next connection to that name offers the latest.
    SSL_CTX_set_session_cache_mode(ctx.get(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx.get(), remember_session);
    SSL_CTX_set_app_data(ctx.get(), impl.get());
  } else {
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  }
  impl->contexts.push_back(std::move(ctx));
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

std::unique_ptr<net::detail::SecureSession> TlsContext::new_session(
    Role role, int fd, std::string_view peer_name) const {
  SSL_CTX* ctx = impl_->contexts.front().get();
  REACTOR_CHECK(role == impl_->role,
                "a TLS context serves only its own role (server() or client())");
  SSL* ssl = SSL_new(ctx);
  BIO* bio = ssl != nullptr ? detail::new_socket_bio(fd) : nullptr;
  if (bio != nullptr) SSL_set_bio(ssl, bio, bio);  // the SSL object owns the BIO
  bool ok = bio != nullptr &&
            (role == Role::server || impl_->prepare_client(ssl, std::string(peer_name)));
  if (!ok) {
    SSL_free(ssl);
    detail::drain_errors();
    return nullptr;
  }
  if (role == Role::server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return detail::make_session(ssl);
}

}  // namespace reactor::tls
