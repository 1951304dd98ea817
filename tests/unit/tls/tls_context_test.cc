// Unit tests for tls::TlsContext's configuration (src/tls/tls_context.cc): what it accepts,
// and the one-line errors for files that are missing, unreadable, not PEM or not matching.
// Handshakes through contexts: tls_handshake_test.cc.
#include "reactor/tls/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>

#include "test_util.h"
#include "tls_test_certs.h"

namespace reactor::tls {
namespace {

const test::TlsTestCerts& certs() {
  return test::tls_test_certs();
}

std::string write_file(const std::string& name, const std::string& content) {
  std::string path = certs().dir + "/" + name;
  std::ofstream(path) << content;
  return path;
}

ServerConfig server_config(const std::string& chain, const std::string& key) {
  ServerConfig config;
  config.certificates.push_back({chain, key});
  return config;
}

/// Runs `make`, which must throw std::system_error; returns it for the checks, and checks
/// that the error is one line and that OpenSSL's error queue was left empty.
std::system_error thrown(const std::function<void()>& make) {
  try {
    make();
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    EXPECT_EQ(ERR_peek_error(), 0u) << "OpenSSL's error queue was not drained";
    return e;
  }
  ADD_FAILURE() << "no std::system_error";
  return std::system_error(std::error_code());
}

void expect_message(const std::system_error& e, const std::string& part) {
  EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
      << "\"" << e.what() << "\" lacks \"" << part << "\"";
}

class TlsContextTest : public ::testing::Test {
 protected:
  test::FdLeakGuard no_leaks_;
};

TEST_F(TlsContextTest, ServerTakesACertificateAndItsKey) {
  EXPECT_NE(TlsContext::server(server_config(certs().cert, certs().key)), nullptr);
}

TEST_F(TlsContextTest, ServerTakesSeveralCertificates) {
  ServerConfig config = server_config(certs().cert, certs().key);
  config.certificates.push_back({certs().wrong_name_cert, certs().wrong_name_key});
  config.certificates.push_back({certs().other_cert, certs().other_key});
  EXPECT_NE(TlsContext::server(config), nullptr);
}

TEST_F(TlsContextTest, ServerTakesVersionsAlpnAndNoTickets) {
  ServerConfig config = server_config(certs().cert, certs().key);
  config.min_version = Version::tls1_3;
  config.alpn = {"h2", "http/1.1"};
  config.session_tickets = false;
  EXPECT_NE(TlsContext::server(config), nullptr);
}

TEST_F(TlsContextTest, ServerNeedsACertificate) {
  auto e = thrown([] { TlsContext::server({}); });
  EXPECT_EQ(e.code(), std::errc::invalid_argument);
  expect_message(e, "needs a certificate");
}

TEST_F(TlsContextTest, MissingCertificateChain) {
  std::string missing = certs().dir + "/missing.pem";
  auto e = thrown([&] { TlsContext::server(server_config(missing, certs().key)); });
  EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  expect_message(e, "cannot read certificate chain " + missing + ": No such file or directory");
}

TEST_F(TlsContextTest, MissingPrivateKey) {
  std::string missing = certs().dir + "/missing.key";
  auto e = thrown([&] { TlsContext::server(server_config(certs().cert, missing)); });
  EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  expect_message(e, "cannot read private key " + missing + ": No such file or directory");
}

TEST_F(TlsContextTest, EmptyFileNames) {
  expect_message(thrown([] { TlsContext::server(server_config("", certs().key)); }),
                 "no certificate chain file given");
  expect_message(thrown([] { TlsContext::server(server_config(certs().cert, "")); }),
                 "no private key file given");
}

TEST_F(TlsContextTest, DirectoryInsteadOfAFile) {
  auto e = thrown([] { TlsContext::server(server_config(certs().dir, certs().key)); });
  EXPECT_EQ(e.code(), std::errc::is_a_directory);
  expect_message(e, "cannot read certificate chain " + certs().dir);
}

TEST_F(TlsContextTest, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string key = write_file("unreadable.key", "");
  ASSERT_EQ(::chmod(key.c_str(), 0), 0);
  auto e = thrown([&] { TlsContext::server(server_config(certs().cert, key)); });
  EXPECT_EQ(e.code(), std::errc::permission_denied);
  expect_message(e, "cannot read private key " + key + ": Permission denied");
}

TEST_F(TlsContextTest, CertificateChainThatIsNotPem) {
  for (const std::string& chain : {write_file("garbage.pem", "not a certificate\n"),
                                   write_file("empty.pem", ""), certs().key}) {
    auto e = thrown([&] { TlsContext::server(server_config(chain, certs().key)); });
    EXPECT_EQ(e.code().category(), openssl_category()) << chain;
    expect_message(e, "certificate chain " + chain + " holds no usable PEM certificate: ");
  }
}

TEST_F(TlsContextTest, PrivateKeyThatIsNotPem) {
  for (const std::string& key : {write_file("garbage.key", "not a key\n"), certs().cert}) {
    auto e = thrown([&] { TlsContext::server(server_config(certs().cert, key)); });
    EXPECT_EQ(e.code().category(), openssl_category()) << key;
    expect_message(e, "private key " + key + " holds no usable PEM private key: ");
  }
}

TEST_F(TlsContextTest, KeyNotMatchingTheCertificate) {
  for (const std::string& key : {certs().mismatched_key, certs().other_key}) {
    auto e = thrown([&] { TlsContext::server(server_config(certs().cert, key)); });
    EXPECT_EQ(e.code().category(), openssl_category());
    expect_message(e, "private key " + key + " does not match certificate " + certs().cert);
  }
}

TEST_F(TlsContextTest, TheErrorNamesTheCertificateAtFault) {
  ServerConfig config = server_config(certs().cert, certs().key);
  config.certificates.push_back({certs().wrong_name_cert, certs().key});
  expect_message(thrown([&] { TlsContext::server(config); }),
                 "does not match certificate " + certs().wrong_name_cert);
}

TEST_F(TlsContextTest, AlpnProtocolsMustFitTheirLengthByte) {
  for (const std::string& bad : {std::string(), std::string(256, 'x')}) {
    ServerConfig server = server_config(certs().cert, certs().key);
    server.alpn = {"http/1.1", bad};
    EXPECT_EQ(thrown([&] { TlsContext::server(server); }).code(), std::errc::invalid_argument);
    ClientConfig client;
    client.alpn = {bad};
    EXPECT_EQ(thrown([&] { TlsContext::client(client); }).code(), std::errc::invalid_argument);
  }
  ClientConfig longest;
  longest.alpn = {std::string(255, 'x')};
  EXPECT_NE(TlsContext::client(longest), nullptr);
}

TEST_F(TlsContextTest, ClientWithTheSystemStoreOrACaFile) {
  EXPECT_NE(TlsContext::client(), nullptr);
  ClientConfig config;
  config.ca_file = certs().ca;
  config.alpn = {"http/1.1"};
  config.min_version = Version::tls1_3;
  EXPECT_NE(TlsContext::client(config), nullptr);
  config.verify = false;
  config.session_resumption = false;
  EXPECT_NE(TlsContext::client(config), nullptr);
}

TEST_F(TlsContextTest, ClientCaFileMissingOrNotPem) {
  ClientConfig config;
  config.ca_file = certs().dir + "/missing-ca.pem";
  auto missing = thrown([&] { TlsContext::client(config); });
  EXPECT_EQ(missing.code(), std::errc::no_such_file_or_directory);
  expect_message(missing, "cannot read CA file " + config.ca_file + ": No such file or directory");

  config.ca_file = write_file("garbage-ca.pem", "not a CA\n");
  auto garbage = thrown([&] { TlsContext::client(config); });
  EXPECT_EQ(garbage.code().category(), openssl_category());
  expect_message(garbage, "CA file " + config.ca_file + " holds no usable PEM certificate: ");
}

}  // namespace
}  // namespace reactor::tls
