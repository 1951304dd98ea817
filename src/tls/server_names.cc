#include "tls/server_names.h"

#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace reactor::tls::detail {
namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_wildcard(std::string_view pattern) {
  return pattern.rfind("*.", 0) == 0;
}

std::string common_name(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
          static_cast<size_t>(ASN1_STRING_length(data))};
}

}  // namespace

std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  auto free_names = [](GENERAL_NAMES* n) { GENERAL_NAMES_free(n); };
  std::unique_ptr<GENERAL_NAMES, decltype(free_names)> alt_names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)),
      free_names);
  for (int i = 0; alt_names && i < sk_GENERAL_NAME_num(alt_names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt_names.get(), i);
    if (name->type != GEN_DNS) continue;
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                       static_cast<size_t>(ASN1_STRING_length(name->d.dNSName)));
  }
  if (names.empty()) {
    if (std::string cn = common_name(cert); !cn.empty()) names.push_back(std::move(cn));
  }
  return names;
}

bool name_matches(std::string_view pattern, std::string_view host) {
  if (!is_wildcard(pattern)) return equal_ignoring_case(pattern, host);
  // "*.com" would cover a whole top-level domain: a wildcard needs two labels after it.
  std::string_view rest = pattern.substr(1);  // ".example.com"
  if (rest.find('.', 1) == std::string_view::npos) return false;
  size_t dot = host.find('.');
  return dot != 0 && dot != std::string_view::npos && equal_ignoring_case(host.substr(dot), rest);
}

size_t select_certificate(const std::vector<std::vector<std::string>>& names,
                          std::string_view host) {
  for (bool wildcard : {false, true}) {
    for (size_t i = 0; i < names.size(); ++i) {
      for (const std::string& pattern : names[i]) {
        if (is_wildcard(pattern) == wildcard && name_matches(pattern, host)) return i;
      }
    }
  }
  return 0;
}

}  // namespace reactor::tls::detail
