// Unit tests for co::Connection (src/co/connection.cc, src/co/stream.cc): reads, writes,
// shutdown and close as awaitables on a real loopback connection, accepted by a co::Server
// on a loop of each backend and driven by a raw socket from the same thread; how each
// wait ends when it is stopped or the connection closes; and a loop destroyed with
// coroutines still parked on connections.
#include "reactor/co/connection.h"

#include <sys/socket.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "co_test_util.h"
#include "reactor/co/connect.h"
#include "reactor/co/server.h"
#include "reactor/co/spawn.h"
#include "reactor/co/time.h"
#include "reactor/co/when.h"
#include "reactor/core/error.h"

namespace reactor::co {
namespace {

using test::error_of;
using test::pattern;
using test::RawClient;
using test::run_for;
using test::run_until;
using test::run_until_done;
using namespace std::chrono_literals;

const std::error_code kCanceled = std::make_error_code(std::errc::operation_canceled);

/// Awaits `awaitable` and returns the code of the std::system_error it throws, if any.
template <class Awaitable>
Task<std::error_code> error_of_await(Awaitable awaitable) {
  try {
    co_await std::move(awaitable);
  } catch (const std::system_error& e) {
    co_return e.code();
  }
  co_return std::error_code();
}

class CoConnectionTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~CoConnectionTest() override {
    conn_ = {};
    server_.reset();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  /// Starts the server, connects a raw client and accepts its connection into conn_.
  void open(net::ConnectionOptions options = {}) {
    net::TcpServerOptions server_options;
    server_options.connection = options;
    server_ = std::make_unique<Server>(loop_, net::InetAddress::loopback_ipv4(0), server_options);
    server_->start();
    conn_ = accept_client(client_);
  }
  /// Connects another raw client and returns the server's side of it.
  Connection accept_client(std::unique_ptr<RawClient>& client) {
    client = std::make_unique<RawClient>(server_->address().port());
    EXPECT_TRUE(client->connected()) << std::strerror(client->error);
    auto accepted = spawn(loop_, as_task(server_->accept()));
    EXPECT_TRUE(run_until_done(loop_, accepted));
    return accepted.done() ? accepted.get() : Connection();
  }
  /// Runs the loop until `spawned` ends, the client reading what comes meanwhile.
  template <class T>
  bool finish(Spawned<T>& spawned) {
    return run_until_done(loop_, spawned, [this] { client_->pump(); });
  }
  /// Waits until the server side has read `n` bytes in all (they are in its hands).
  bool until_read(uint64_t n) {
    return run_until(loop_, [&] { return server_->stats()[0].bytes_read >= n; });
  }
  /// Caps both kernel buffers between us and the client, and returns how much of a
  /// transfer the kernel can absorb at most.
  size_t cap_kernel_buffers() {
    size_t sndbuf = test::cap_kernel_buffer(conn_.tcp().fd(), SO_SNDBUF);
    size_t rcvbuf = test::cap_kernel_buffer(client_->fd(), SO_RCVBUF);
    return test::kernel_share(sndbuf, rcvbuf);
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  std::unique_ptr<Server> server_;
  std::unique_ptr<RawClient> client_;
  Connection conn_;
};

// ---- reads ---------------------------------------------------------------------------------

TEST_P(CoConnectionTest, ReadSomeTakesWhatIsBufferedUpToTheSpan) {
  open();
  client_->send("hello");
  ASSERT_TRUE(until_read(5));
  auto reads = spawn(loop_, [this]() -> Task<std::string> {
    char small[3];
    std::size_t n = co_await conn_.read_some(small);
    std::string got(small, n);
    char big[64];
    n = co_await conn_.read_some(big);  // the rest came with the first three: no wait
    co_return got + "|" + std::string(big, n);
  });
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "hel|lo");
}

TEST_P(CoConnectionTest, ReadSomeWaitsForTheNextBytes) {
  open();
  auto reads = spawn(loop_, [this]() -> Task<std::string> {
    char buf[64];
    std::size_t n = co_await conn_.read_some(buf);
    co_return std::string(buf, n);
  });
  run_for(loop_, 10ms);
  EXPECT_FALSE(reads.done());
  client_->send("late");
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "late");
}

TEST_P(CoConnectionTest, ReadExactlyWaitsForSplitInput) {
  open();
  auto reads = spawn(loop_, [this]() -> Task<std::string> {
    std::array<char, 8> buf;
    std::size_t n = co_await conn_.read_exactly(buf);
    std::string got(buf.data(), n);
    char rest[16];
    n = co_await conn_.read_some(rest);
    co_return got + "|" + std::string(rest, n);
  });
  client_->send("abc");
  ASSERT_TRUE(until_read(3));
  run_for(loop_, 10ms);
  EXPECT_FALSE(reads.done());
  // One byte at a time, each read by the server before the next is sent.
  const std::string more = "defgh";
  for (size_t i = 0; i < more.size(); ++i) {
    client_->send(more.substr(i, 1));
    ASSERT_TRUE(until_read(4 + i));
  }
  client_->send("XY");
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "abcdefgh|XY");
}

TEST_P(CoConnectionTest, ReadExactlyOfNothingCompletesAtOnce) {
  open();
  auto reads = spawn(loop_, [this]() -> Task<std::size_t> {
    co_return co_await conn_.read_exactly(std::span<char>());
  });
  ASSERT_TRUE(reads.done());
  EXPECT_EQ(reads.get(), 0u);
}

TEST_P(CoConnectionTest, ReadUntilFindsADelimiterSplitAcrossSegments) {
  open();
  const std::string head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  auto reads = spawn(loop_, [this]() -> Task<std::string> {
    std::string out = "[";
    std::size_t n = co_await conn_.read_until(out, "\r\n\r\n", 1024);
    std::array<char, 4> body;
    co_await conn_.read_exactly(body);
    co_return std::to_string(n) + out + std::string(body.data(), body.size());
  });
  // Every byte its own segment, so the delimiter is split every way it can be.
  const std::string all = head + "BODY";
  for (size_t i = 0; i < all.size(); ++i) {
    client_->send(all.substr(i, 1));
    ASSERT_TRUE(until_read(i + 1));
  }
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), std::to_string(head.size()) + "[" + head + "BODY");
}

TEST_P(CoConnectionTest, ReadUntilTakesOnlyUpToTheFirstDelimiter) {
  open();
  client_->send("one\ntwo\nthree");
  ASSERT_TRUE(until_read(13));
  auto reads = spawn(loop_, [this]() -> Task<std::string> {
    std::string a, b;
    co_await conn_.read_until(a, "\n", 4);  // ends exactly at max: found
    co_await conn_.read_until(b, "\n", 100);
    char rest[16];
    std::size_t n = co_await conn_.read_some(rest);
    co_return a + b + std::string(rest, n);
  });
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "one\ntwo\nthree");
}

TEST_P(CoConnectionTest, ReadUntilGivesUpAtMaxAndConsumesNothing) {
  open();
  client_->send("0123456789abcdef");
  ASSERT_TRUE(until_read(16));
  std::error_code error;
  std::string out;
  auto reads = spawn(loop_, [&]() -> Task<std::string> {
    try {
      co_await conn_.read_until(out, "\n", 10);
    } catch (const std::system_error& e) {
      error = e.code();
    }
    std::array<char, 16> all;
    co_await conn_.read_exactly(all);
    co_return std::string(all.data(), all.size());
  });
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(error, Errc::delimiter_not_found) << error.message();
  EXPECT_EQ(out, "");
  EXPECT_EQ(reads.get(), "0123456789abcdef");
}

// ---- the peer's end of stream ------------------------------------------------------------------

// What a coroutine echo needs: the bytes, then the end of the stream, then it still writes.
TEST_P(CoConnectionTest, EndOfStreamComesAfterTheLastByteAndWritingGoesOn) {
  open();
  client_->send("tail");
  client_->shutdown_write();
  std::error_code after_end;
  auto reads = spawn(loop_, [&, conn = std::move(conn_)]() mutable -> Task<std::string> {
    char buf[16];
    std::size_t n = co_await conn.read_some(buf);
    std::string got(buf, n);
    std::size_t end = co_await conn.read_some(buf);
    got += "|" + std::to_string(end);
    try {
      co_await conn.read_exactly(std::span<char>(buf, 1));
    } catch (const std::system_error& e) {
      after_end = e.code();
    }
    co_await conn.write("bye");
    co_return got;  // dropping the connection closes it gracefully
  });
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "tail|0");
  EXPECT_EQ(after_end, Errc::end_of_stream) << after_end.message();
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  EXPECT_EQ(client_->received, "bye");
  EXPECT_EQ(client_->error, 0);
}

TEST_P(CoConnectionTest, ReadExactlyThrowsWhenThePeerEndsFirst) {
  open();
  client_->send("abc");
  client_->shutdown_write();
  auto reads = spawn(loop_, [this]() -> Task<std::size_t> {
    std::array<char, 8> buf;
    co_return co_await conn_.read_exactly(buf);
  });
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(error_of([&] { reads.get(); }), Errc::end_of_stream);
}

TEST_P(CoConnectionTest, ReadUntilThrowsWhenThePeerEndsFirst) {
  open();
  auto reads = spawn(loop_, [this]() -> Task<std::size_t> {
    std::string out;
    co_return co_await conn_.read_until(out, "\n", 100);
  });
  client_->send("no newline");
  ASSERT_TRUE(until_read(10));
  client_->shutdown_write();
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(error_of([&] { reads.get(); }), Errc::end_of_stream);
}

TEST_P(CoConnectionTest, AResetReachesTheReaderAsTheError) {
  open();
  auto reads = spawn(loop_, [this]() -> Task<std::size_t> {
    char buf[16];
    co_return co_await conn_.read_some(buf);
  });
  run_for(loop_, 5ms);
  ASSERT_FALSE(reads.done());
  client_->reset();
  ASSERT_TRUE(run_until_done(loop_, reads));
  EXPECT_EQ(error_of([&] { reads.get(); }), std::errc::connection_reset);
}

// ---- writes, back-pressure, shutdown and close -------------------------------------------------

TEST_P(CoConnectionTest, WriteWaitsWhileThePeerDoesNotRead) {
  net::ConnectionOptions options;
  options.high_water_mark = 256 << 10;
  options.low_water_mark = 32 << 10;
  open(options);
  const size_t kernel = cap_kernel_buffers();
  const std::string chunk = pattern(64 << 10);
  const size_t chunks = (kernel + options.high_water_mark) / chunk.size() + 8;
  size_t written = 0;
  auto writes = spawn(loop_, [&]() -> Task<void> {
    for (size_t i = 0; i < chunks; ++i) {
      co_await conn_.write(chunk);
      ++written;
    }
  });
  ASSERT_TRUE(
      run_until(loop_, [&] { return conn_.tcp().pending_output() >= options.high_water_mark; }));
  const size_t parked_at = written;
  run_for(loop_, 20ms);  // the peer still reads nothing: the writer stays parked
  EXPECT_FALSE(writes.done());
  EXPECT_EQ(written, parked_at);
  EXPECT_LT(written, chunks);
  EXPECT_LE(conn_.tcp().pending_output(), options.high_water_mark + chunk.size());

  ASSERT_TRUE(finish(writes));  // the client reads now
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->received.size() >= chunks * chunk.size();
  }));
  std::string expected;
  for (size_t i = 0; i < chunks; ++i) expected += chunk;
  EXPECT_TRUE(client_->received == expected);
}

TEST_P(CoConnectionTest, ShutdownCompletesOnceQueuedOutputIsOut) {
  open();
  cap_kernel_buffers();
  const std::string data = pattern(512 << 10);  // below the high-water mark: queued
  bool shut = false;
  auto session = spawn(loop_, [&]() -> Task<std::string> {
    co_await conn_.write(data);
    co_await conn_.shutdown();
    shut = true;
    // Half-closed: the peer may still send, and we still read.
    char buf[16];
    std::size_t n = co_await conn_.read_some(buf);
    std::string got(buf, n);
    n = co_await conn_.read_some(buf);
    co_return got + "|" + std::to_string(n);
  });
  ASSERT_GT(conn_.tcp().pending_output(), 0u);
  run_for(loop_, 20ms);
  EXPECT_FALSE(shut) << "the output has not gone out yet";
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  EXPECT_TRUE(shut);
  EXPECT_TRUE(client_->received == data);
  client_->send("after");
  client_->shutdown_write();
  ASSERT_TRUE(finish(session));
  EXPECT_EQ(session.get(), "after|0");
}

// Bytes that arrive after our shutdown() while no read waits are held (reading paused);
// if the peer's FIN then ends the connection, they can no longer be read. The reader must
// get them, or an error saying they were lost — never a clean end of stream without them.
TEST_P(CoConnectionTest, BytesHeldWhenTheConnectionEndsAreNotAQuietEnd) {
  open();
  auto shut = spawn(loop_, [this]() -> Task<void> { co_await conn_.shutdown(); });
  ASSERT_TRUE(shut.done());
  client_->send("hello");
  ASSERT_TRUE(until_read(5));
  client_->shutdown_write();
  // Where the backend reports the hang-up with reading paused (epoll, poll), the connection
  // ends now; select does not, and the bytes are read later. Both are fine.
  run_until(loop_, [&] { return server_->stats()[0].open == 0; }, 500ms);
  auto read = spawn(loop_, [this]() -> Task<std::string> {
    std::string got;
    char buf[16];
    try {
      while (std::size_t n = co_await conn_.read_some(buf)) got.append(buf, n);
    } catch (const std::system_error& e) {
      co_return "error: " + e.code().message();
    }
    co_return got;
  });
  ASSERT_TRUE(finish(read));
  const std::string got = read.get();
  if (got != "hello") {
    EXPECT_EQ(got, "error: " + make_error_code(Errc::input_discarded).message());
  }
}

TEST_P(CoConnectionTest, ShutdownWithNothingQueuedCompletesAtOnce) {
  open();
  auto shut = spawn(loop_, [this]() -> Task<void> { co_await conn_.shutdown(); });
  EXPECT_TRUE(shut.done());
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  auto write = spawn(loop_, [this]() -> Task<void> { co_await conn_.write("too late"); });
  ASSERT_TRUE(write.done());
  EXPECT_EQ(error_of([&] { write.get(); }), kCanceled) << "our side is shut";
}

TEST_P(CoConnectionTest, CloseReportsALocalClose) {
  open();
  auto closed = spawn(loop_, [this]() -> Task<net::CloseInfo> {
    co_await conn_.write("last words");
    co_return co_await conn_.close();
  });
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  EXPECT_FALSE(closed.done()) << "close() waits for the peer's FIN";
  client_->close();
  ASSERT_TRUE(run_until_done(loop_, closed));
  net::CloseInfo info = closed.get();
  EXPECT_EQ(info.reason, net::CloseReason::local);
  EXPECT_FALSE(info.error);
  EXPECT_EQ(info.unsent, 0u);
  EXPECT_EQ(client_->received, "last words");
}

TEST_P(CoConnectionTest, CloseAfterThePeersEndReportsThePeer) {
  open();
  client_->close();
  auto closed = spawn(loop_, [this]() -> Task<net::CloseInfo> {
    char buf[8];
    EXPECT_EQ(co_await conn_.read_some(buf), 0u);
    co_return co_await conn_.close();
  });
  ASSERT_TRUE(run_until_done(loop_, closed));
  EXPECT_EQ(closed.get().reason, net::CloseReason::peer);
  // Closed already: another close reports the same at once.
  auto again = spawn(loop_, [this]() -> Task<net::CloseInfo> { co_return co_await conn_.close(); });
  ASSERT_TRUE(again.done());
  EXPECT_EQ(again.get().reason, net::CloseReason::peer);
}

TEST_P(CoConnectionTest, CloseWithoutLingerEndsAtOnce) {
  open();
  auto closed = spawn(loop_, [this]() -> Task<net::CloseInfo> {
    co_return co_await conn_.close(net::Linger::none);
  });
  ASSERT_TRUE(closed.done());
  EXPECT_EQ(closed.get().reason, net::CloseReason::local);
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  EXPECT_EQ(client_->error, 0);
}

TEST_P(CoConnectionTest, DroppingTheConnectionClosesIt) {
  open();
  auto drop = spawn(
      loop_, [conn = std::move(conn_)]() mutable -> Task<void> { co_await conn.write("goodbye"); });
  ASSERT_TRUE(run_until_done(loop_, drop));
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  EXPECT_EQ(client_->received, "goodbye");
  EXPECT_EQ(client_->error, 0) << "closed gracefully, not reset";
}

// ---- cancellation --------------------------------------------------------------------------

TEST_P(CoConnectionTest, AStoppedReadTakesNothing) {
  open();
  std::stop_source stop;
  auto reads = spawn(loop_, [&]() -> Task<std::string> {
    char buf[16];
    EXPECT_EQ(co_await error_of_await(conn_.read_some(buf, stop.get_token())), kCanceled);
    std::size_t n = co_await conn_.read_some(buf);
    co_return std::string(buf, n);
  });
  run_for(loop_, 5ms);
  stop.request_stop();
  run_for(loop_, 5ms);
  EXPECT_FALSE(reads.done());
  client_->send("kept");
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "kept");
}

// A stop that is already requested stops the read before it looks at the bytes that are
// there, and they wait for the next read.
TEST_P(CoConnectionTest, AReadStoppedBeforeItWaitsLeavesTheBytes) {
  open();
  client_->send("ready");
  ASSERT_TRUE(until_read(5));
  std::stop_source stop;
  stop.request_stop();
  auto reads = spawn(loop_, [&]() -> Task<std::string> {
    char buf[16];
    EXPECT_EQ(co_await error_of_await(conn_.read_some(buf, stop.get_token())), kCanceled);
    std::size_t n = co_await conn_.read_some(buf);
    co_return std::string(buf, n);
  });
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "ready");
}

TEST_P(CoConnectionTest, AReadExactlyThatLosesAWhenAnyKeepsItsBytes) {
  open();
  client_->send("0123456789");
  ASSERT_TRUE(until_read(10));
  auto reads = spawn(loop_, [this]() -> Task<std::string> {
    std::array<char, 100> more;  // can never complete
    auto sleeper = []() -> Task<void> { co_await sleep_for(5ms); };
    auto result = co_await when_any(as_task(conn_.read_exactly(more)), sleeper());
    EXPECT_EQ(result.index(), 1u);
    char buf[64];
    std::size_t n = co_await conn_.read_some(buf);
    co_return std::string(buf, n);
  });
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "0123456789");
}

TEST_P(CoConnectionTest, AReadThatTimesOutLosesNothing) {
  open();
  auto reads = spawn(loop_, [this]() -> Task<std::string> {
    char buf[64];
    EXPECT_EQ(co_await error_of_await(timeout(conn_.read_some(buf), 5ms)), std::errc::timed_out);
    std::size_t n = co_await conn_.read_some(buf);
    co_return std::string(buf, n);
  });
  run_for(loop_, 20ms);
  client_->send("after the timeout");
  ASSERT_TRUE(finish(reads));
  EXPECT_EQ(reads.get(), "after the timeout");
}

// Two connections race in a when_any, round after round, their bytes arriving in the same
// batch of events: the loser's read is stopped while its bytes are in flight, and they
// must reach the next read all the same.
TEST_P(CoConnectionTest, TheLoserOfARaceBetweenReadsLosesNoBytes) {
  open();
  std::unique_ptr<RawClient> other_client;
  Connection other = accept_client(other_client);
  constexpr int kRounds = 30;
  std::string got_a, got_b, want_a, want_b;
  for (int i = 0; i < kRounds; ++i) {
    want_a += "a" + std::to_string(i) + ";";
    want_b += "b" + std::to_string(i) + ";";
  }
  auto race = spawn(loop_, [&]() -> Task<void> {
    char buf_a[8], buf_b[8];
    while (got_a.size() < want_a.size() || got_b.size() < want_b.size()) {
      auto won =
          co_await when_any(as_task(conn_.read_some(buf_a)), as_task(other.read_some(buf_b)));
      if (won.index() == 0)
        got_a.append(buf_a, std::get<0>(won));
      else
        got_b.append(buf_b, std::get<1>(won));
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    const size_t a = got_a.size(), b = got_b.size();
    client_->send("a" + std::to_string(i) + ";");
    other_client->send("b" + std::to_string(i) + ";");
    ASSERT_TRUE(run_until(loop_, [&] { return got_a.size() > a && got_b.size() > b; }));
  }
  ASSERT_TRUE(run_until_done(loop_, race));
  EXPECT_EQ(got_a, want_a);
  EXPECT_EQ(got_b, want_b);
}

TEST_P(CoConnectionTest, StoppingAParkedWriteOrShutdownEndsOnlyTheWait) {
  net::ConnectionOptions options;
  options.high_water_mark = 128 << 10;
  options.low_water_mark = 16 << 10;
  open(options);
  const size_t kernel = cap_kernel_buffers();
  const std::string big = pattern(kernel + (256 << 10));
  std::stop_source stop_write, stop_shutdown;
  std::error_code write_error, shutdown_error;
  bool writing = false, shutting = false;
  auto session = spawn(loop_, [&]() -> Task<void> {
    writing = true;
    try {
      co_await conn_.write(big, stop_write.get_token());
    } catch (const std::system_error& e) {
      write_error = e.code();
    }
    shutting = true;
    try {
      co_await conn_.shutdown(stop_shutdown.get_token());
    } catch (const std::system_error& e) {
      shutdown_error = e.code();
    }
  });
  ASSERT_TRUE(writing);
  run_for(loop_, 5ms);
  ASSERT_FALSE(shutting) << "the write waits: the peer reads nothing";
  stop_write.request_stop();
  ASSERT_TRUE(run_until(loop_, [&] { return shutting; }));
  EXPECT_EQ(write_error, kCanceled);
  run_for(loop_, 5ms);
  ASSERT_FALSE(session.done()) << "the shutdown waits for the output to go out";
  stop_shutdown.request_stop();
  ASSERT_TRUE(run_until_done(loop_, session));
  EXPECT_EQ(shutdown_error, kCanceled);
  // Neither stop took anything back: every byte arrives, then the FIN.
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  EXPECT_TRUE(client_->received == big);
}

TEST_P(CoConnectionTest, AWriteThatTimesOutStillSendsItsBytes) {
  net::ConnectionOptions options;
  options.high_water_mark = 128 << 10;
  options.low_water_mark = 16 << 10;
  open(options);
  const std::string big = pattern(cap_kernel_buffers() + (256 << 10));
  bool first_ended = false;
  auto writes = spawn(loop_, [&]() -> Task<std::error_code> {
    std::error_code timed_out = co_await error_of_await(timeout(conn_.write(big), 5ms));
    first_ended = true;
    co_await conn_.write("!");  // after the queued bytes, in order
    co_return timed_out;
  });
  ASSERT_TRUE(run_until(loop_, [&] { return first_ended; }));
  run_for(loop_, 5ms);
  ASSERT_FALSE(writes.done()) << "the second write waits for the queue to fall";
  ASSERT_TRUE(finish(writes));
  EXPECT_EQ(writes.get(), std::errc::timed_out);
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->received.size() >= big.size() + 1;
  }));
  EXPECT_TRUE(client_->received == big + "!");
}

TEST_P(CoConnectionTest, StoppingACloseLetsTheCloseGoOn) {
  open();
  std::stop_source stop;
  auto closing = spawn(loop_, [&]() -> Task<void> { co_await conn_.close({}, stop.get_token()); });
  run_for(loop_, 5ms);
  ASSERT_FALSE(closing.done()) << "the peer has not closed";
  stop.request_stop();
  ASSERT_TRUE(run_until_done(loop_, closing));
  EXPECT_EQ(error_of([&] { closing.get(); }), kCanceled);
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->eof;
  }));
  client_->close();
  auto closed =
      spawn(loop_, [this]() -> Task<net::CloseInfo> { co_return co_await conn_.close(); });
  ASSERT_TRUE(run_until_done(loop_, closed));
  EXPECT_EQ(closed.get().reason, net::CloseReason::local);
}

// ---- a close while coroutines wait ----------------------------------------------------

class CoConnectionCloseTest : public CoConnectionTest {
 protected:
  /// Parks a reader and a writer on conn_ (the peer reads nothing); each records its error.
  void park_both() {
    net::ConnectionOptions options;
    options.high_water_mark = 64 << 10;
    options.low_water_mark = 16 << 10;
    options.close_timeout = 100ms;
    open(options);
    big_ = pattern(cap_kernel_buffers() + (128 << 10));
    spawn(loop_, [this]() -> Task<void> {
      char buf[16];
      reader_error_ = co_await error_of_await(conn_.read_some(buf));
      reader_done_ = true;
    });
    spawn(loop_, [this]() -> Task<void> {
      writer_error_ = co_await error_of_await(conn_.write(big_));
      writer_done_ = true;
    });
    run_for(loop_, 5ms);
    ASSERT_FALSE(reader_done_);
    ASSERT_FALSE(writer_done_) << "the peer reads nothing: the writer waits";
  }

  std::string big_;
  std::error_code reader_error_, writer_error_;
  bool reader_done_ = false, writer_done_ = false;
};

TEST_P(CoConnectionCloseTest, AResetResumesBothWithTheError) {
  park_both();
  client_->reset();
  ASSERT_TRUE(run_until(loop_, [&] { return reader_done_ && writer_done_; }));
  EXPECT_TRUE(reader_error_ == std::errc::connection_reset ||
              reader_error_ == std::errc::broken_pipe)
      << reader_error_.message();
  EXPECT_EQ(writer_error_, reader_error_) << "both see the connection's error";
}

TEST_P(CoConnectionCloseTest, AbortResumesBothWithOperationCanceled) {
  park_both();
  conn_.abort();
  EXPECT_TRUE(reader_done_ && writer_done_) << "resumed from the close itself";
  EXPECT_EQ(reader_error_, kCanceled);
  EXPECT_EQ(writer_error_, kCanceled);
  ASSERT_TRUE(run_until(loop_, [&] {
    client_->pump();
    return client_->error != 0 || client_->eof;
  }));
  EXPECT_EQ(client_->error, ECONNRESET);
}

TEST_P(CoConnectionCloseTest, ACloseThatTimesOutResumesBothWithOperationCanceled) {
  park_both();
  // A close (not through the coroutine API) whose output cannot go out: it gives up at
  // the connection's close timeout.
  conn_.tcp().close();
  ASSERT_TRUE(run_until(loop_, [&] { return reader_done_ && writer_done_; }));
  EXPECT_EQ(reader_error_, kCanceled);
  EXPECT_EQ(writer_error_, kCanceled);
}

// ---- the loop destroyed first --------------------------------------------------------------

struct Probe {
  int* destroyed;
  ~Probe() { ++*destroyed; }
};

// Owns its loop (one per thread: the other fixtures' loop would be in the way).
class CoConnectionTeardownTest : public ::testing::TestWithParam<std::string> {
 protected:
  test::FdLeakGuard leaks_;
};

// Client connections (co::connect) to a listener that never accepts nor reads: one
// coroutine parked reading and writing, one sleeping with its connection, and one
// connection dropped while open (closing, waiting for a FIN that never comes). Destroying
// the loop frees every frame without resuming it, and every connection with its client;
// ASan reports any leak, the guard any descriptor left open.
TEST_P(CoConnectionTeardownTest, DestroyingTheLoopFreesParkedCoroutinesAndConnections) {
  int destroyed = 0;
  bool resumed = false;
  {
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    net::InetAddress any = net::InetAddress::loopback_ipv4(0);
    ASSERT_EQ(::bind(listener.get(), any.sockaddr_ptr(), any.length()), 0);
    ASSERT_EQ(::listen(listener.get(), 16), 0);
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    const auto target = net::InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len);

    auto loop = std::make_unique<EventLoop>(GetParam());
    net::TcpClientOptions options;
    options.connection.high_water_mark = 64 << 10;
    options.connection.low_water_mark = 16 << 10;
    const std::string big = pattern(8 << 20);
    net::TcpConnection* writing = nullptr;
    int parked = 0;
    spawn(*loop, [&]() -> Task<void> {
      Probe probe{&destroyed};
      Connection c = co_await connect(target, options);
      writing = &c.tcp();
      char buf[16];
      co_await when_all(as_task(c.read_some(buf)), as_task(c.write(big)));
      resumed = true;
    });
    spawn(*loop, [&]() -> Task<void> {
      Probe probe{&destroyed};
      Connection c = co_await connect(target, options);
      ++parked;
      co_await sleep_for(1h);
      resumed = true;
    });
    spawn(*loop, [&]() -> Task<void> {
      Probe probe{&destroyed};
      Connection c = co_await connect(target, options);
      co_await c.write("dropped while open");
      ++parked;
    });
    ASSERT_TRUE(run_until(*loop, [&] {
      return parked == 2 && writing &&
             writing->pending_output() >= options.connection.high_water_mark;
    }));
    loop.reset();
  }
  EXPECT_EQ(destroyed, 3);
  EXPECT_FALSE(resumed);
}

INSTANTIATE_TEST_SUITE_P(Backends, CoConnectionTest, test::all_backends(), test::backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, CoConnectionCloseTest, test::all_backends(), test::backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, CoConnectionTeardownTest, test::all_backends(),
                         test::backend_name);

// Misuse aborts (REACTOR_CHECK, on in every build).
class CoConnectionDeathTest : public CoConnectionTest {};

TEST_P(CoConnectionDeathTest, TwoReadsAtOnceAbort) {
  open();
  EXPECT_DEATH(
      {
        auto read = [this]() -> Task<void> {
          char buf[4];
          co_await conn_.read_some(buf);
        };
        spawn(loop_, read);
        spawn(loop_, read);
      },
      "a read is already waiting");
}

TEST_P(CoConnectionDeathTest, AWriteAndACloseAtOnceAbort) {
  net::ConnectionOptions options;
  options.high_water_mark = 16 << 10;
  open(options);
  cap_kernel_buffers();
  EXPECT_DEATH(
      {
        const std::string big = pattern(4 << 20);
        spawn(loop_, [&]() -> Task<void> { co_await conn_.write(big); });
        spawn(loop_, [&]() -> Task<void> { co_await conn_.close(); });
      },
      "already waiting");
}

INSTANTIATE_TEST_SUITE_P(Backends, CoConnectionDeathTest, ::testing::Values("epoll"),
                         test::backend_name);

}  // namespace
}  // namespace reactor::co
