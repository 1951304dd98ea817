#pragma once
// The names a server certificate answers to, and the choice of a certificate for a
// client's SNI name (src/tls/tls_context.cc's servername callback).
#include <openssl/x509.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace reactor::tls::detail {

/// The DNS names of `cert`'s subjectAltName; its subject's common name when it has none.
std::vector<std::string> certificate_names(X509* cert);

/// Whether `pattern`, a certificate's name, covers `host` (ignoring case): equal, or
/// "*.example.com" standing for exactly one label before "example.com".
bool name_matches(std::string_view pattern, std::string_view host);

/// The certificate to present for `host`: the first whose names match it exactly, else
/// the first that matches through a wildcard, else the default (0).
size_t select_certificate(const std::vector<std::vector<std::string>>& names,
                          std::string_view host);

}  // namespace reactor::tls::detail
