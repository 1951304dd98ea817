// Unit tests for the socket BIO that writes without SIGPIPE (src/tls/socket_bio.cc).
#include "tls/socket_bio.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>

#include "test_util.h"

namespace reactor::tls::detail {
namespace {

struct FreeBio {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, FreeBio>;

TEST(SocketBio, ReadsAndWritesTheSocket) {
  test::FdLeakGuard leaks;
  auto [ours, theirs] = test::socket_pair();
  BioPtr bio(new_socket_bio(ours.get()));
  ASSERT_TRUE(bio);
  EXPECT_EQ(BIO_write(bio.get(), "ping", 4), 4);
  char buf[8];
  EXPECT_EQ(::recv(theirs.get(), buf, sizeof buf, 0), 4);
  EXPECT_EQ(::send(theirs.get(), "pong", 4, 0), 4);
  EXPECT_EQ(BIO_read(bio.get(), buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "pong");
  EXPECT_EQ(BIO_read(bio.get(), buf, sizeof buf), -1);
  EXPECT_TRUE(BIO_should_retry(bio.get()) && BIO_should_read(bio.get()));
  bio.reset();
  EXPECT_EQ(::send(ours.get(), "x", 1, 0), 1) << "freeing the BIO must not close the socket";
}

TEST(SocketBio, AFullSocketAsksForARetry) {
  auto [ours, theirs] = test::socket_pair();
  BioPtr bio(new_socket_bio(ours.get()));
  const std::string chunk(64 << 10, 'x');
  int rc = 0;
  for (int i = 0; i < 10000 && (rc = BIO_write(bio.get(), chunk.data(), 64 << 10)) > 0; ++i) {
  }
  EXPECT_EQ(rc, -1);
  EXPECT_TRUE(BIO_should_retry(bio.get()) && BIO_should_write(bio.get()));
}

TEST(SocketBio, APeerGoneIsAnErrorNotSigpipe) {
  auto [ours, theirs] = test::socket_pair();
  BioPtr bio(new_socket_bio(ours.get()));
  theirs.reset();
  // With OpenSSL's own socket BIO the process would die here of SIGPIPE.
  EXPECT_EQ(BIO_write(bio.get(), "lost", 4), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_FALSE(BIO_should_retry(bio.get()));
}

}  // namespace
}  // namespace reactor::tls::detail
