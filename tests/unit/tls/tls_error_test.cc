// Unit tests for OpenSSL's errors as std::error_code (src/tls/tls_error.cc).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "reactor/tls/tls_context.h"
#include "tls/tls_session.h"

namespace reactor::tls {
namespace {

TEST(TlsError, CategoriesAreNamed) {
  EXPECT_STREQ(openssl_category().name(), "openssl");
  EXPECT_STREQ(verify_category().name(), "x509 verify");
}

TEST(TlsError, VerifyResultsReadAsOpenSslSaysThem) {
  EXPECT_EQ(std::error_code(X509_V_ERR_CERT_HAS_EXPIRED, verify_category()).message(),
            "certificate has expired");
  EXPECT_EQ(std::error_code(X509_V_ERR_HOSTNAME_MISMATCH, verify_category()).message(),
            "hostname mismatch");
}

TEST(TlsError, DrainingAnEmptyQueueIsNoError) {
  ERR_clear_error();
  EXPECT_FALSE(detail::drain_errors());
}

TEST(TlsError, DrainKeepsTheFirstErrorAsTheReasonAndEmptiesTheQueue) {
  ERR_clear_error();
  ERR_raise(ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER);
  ERR_raise(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED);
  std::error_code e = detail::drain_errors();
  EXPECT_EQ(e.category(), openssl_category());
  EXPECT_EQ(ERR_GET_REASON(static_cast<unsigned int>(e.value())), SSL_R_WRONG_VERSION_NUMBER);
  EXPECT_EQ(e.message(), "wrong version number");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsError, SystemErrorsReadAsErrno) {
  ERR_clear_error();
  ERR_raise(ERR_LIB_SYS, ECONNRESET);
  EXPECT_EQ(detail::drain_errors().message(), std::system_category().message(ECONNRESET));
}

TEST(TlsError, UnknownCodesStillSaySomething) {
  EXPECT_FALSE(std::error_code(0x7fff1234, openssl_category()).message().empty());
}

}  // namespace
}  // namespace reactor::tls
