// Unit tests for the certificate names and the SNI choice (src/tls/server_names.cc).
#include "tls/server_names.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tls_test_certs.h"

namespace reactor::tls::detail {
namespace {

struct FreeX509 {
  void operator()(X509* x) const { X509_free(x); }
};

std::vector<std::string> names_of(const std::string& pem) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(pem.c_str(), "r"), std::fclose);
  EXPECT_TRUE(file) << pem;
  if (!file) return {};
  std::unique_ptr<X509, FreeX509> cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr));
  EXPECT_TRUE(cert) << pem;
  return cert ? certificate_names(cert.get()) : std::vector<std::string>{};
}

TEST(ServerNames, DnsNamesOfTheSubjectAltNameOnly) {
  // IP:127.0.0.1 is in the certificate too, but SNI carries host names only.
  EXPECT_EQ(names_of(test::tls_test_certs().cert), std::vector<std::string>{"localhost"});
  EXPECT_EQ(names_of(test::tls_test_certs().wrong_name_cert),
            std::vector<std::string>{"other.example"});
}

TEST(ServerNames, CommonNameWhenThereIsNoSubjectAltName) {
  EXPECT_EQ(names_of(test::tls_test_certs().ca), std::vector<std::string>{"reactor test CA"});
}

TEST(ServerNames, Matching) {
  struct Case {
    const char* pattern;
    const char* host;
    bool matches;
  };
  for (const Case& c : std::vector<Case>{
           {"example.com", "example.com", true},
           {"Example.COM", "example.com", true},
           {"example.com", "www.example.com", false},
           {"example.com", "example.co", false},
           {"*.example.com", "www.example.com", true},
           {"*.example.com", "WWW.Example.Com", true},
           {"*.example.com", "example.com", false},
           {"*.example.com", ".example.com", false},
           {"*.example.com", "a.b.example.com", false},  // one label only
           {"*.example.com", "www.example.org", false},
           {"*.com", "example.com", false},  // not a whole top-level domain
           {"*", "localhost", false},
           {"w*.example.com", "www.example.com", false},  // no partial wildcards
       })
    EXPECT_EQ(name_matches(c.pattern, c.host), c.matches) << c.pattern << " vs " << c.host;
}

TEST(ServerNames, SelectionPrefersExactNamesThenWildcardsThenTheDefault) {
  const std::vector<std::vector<std::string>> names = {
      {"default.example"},
      {"*.example.com"},
      {"other.example", "www.example.com"},
      {"*.example.com", "api.example.com"},
  };
  EXPECT_EQ(select_certificate(names, "default.example"), 0u);
  EXPECT_EQ(select_certificate(names, "OTHER.example"), 2u);
  EXPECT_EQ(select_certificate(names, "www.example.com"), 2u);  // exact beats the wildcard
  EXPECT_EQ(select_certificate(names, "api.example.com"), 3u);
  EXPECT_EQ(select_certificate(names, "mail.example.com"), 1u);  // the first wildcard
  EXPECT_EQ(select_certificate(names, "unknown.test"), 0u);
  EXPECT_EQ(select_certificate({}, "anything"), 0u);
}

}  // namespace
}  // namespace reactor::tls::detail
