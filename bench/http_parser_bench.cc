// Micro-benchmarks of the HTTP/1.1 request parser: the bytes/s it sustains on the
// request shapes a server sees most. One parser is reused with reset() between
// iterations, as on a keep-alive connection.

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "http/parser.h"

namespace {

using reactor::http::detail::RequestParser;

// What a desktop browser sends for a page: ~400 bytes, 10 header fields.
const std::string kBrowserGet =
    "GET /articles/2024/reactor-pattern.html?ref=home&utm_source=feed HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=6f1c2a9e3b; theme=dark\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Cache-Control: max-age=0\r\n"
    "\r\n";

// What wrk sends by default.
const std::string kMinimalGet = "GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";

// An upload of 1 KiB in four chunks, one of them with an extension, plus a trailer.
const std::string kChunkedPost = [] {
  std::string s =
      "POST /api/upload HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\n"
      "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) {
    s += i == 1 ? "100;sig=abc\r\n" : "100\r\n";
    s += std::string(256, static_cast<char>('a' + i)) + "\r\n";
  }
  return s + "0\r\nX-Checksum: 1234\r\n\r\n";
}();

void parse_whole(benchmark::State& state, const std::string& wire) {
  RequestParser parser;
  for (auto _ : state) {
    const RequestParser::Result r = parser.parse(wire);
    if (r.state != RequestParser::State::complete) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(parser.request().headers().data());
    parser.reset();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_BrowserGet(benchmark::State& state) {
  parse_whole(state, kBrowserGet);
}
void BM_MinimalGet(benchmark::State& state) {
  parse_whole(state, kMinimalGet);
}
void BM_ChunkedPost(benchmark::State& state) {
  parse_whole(state, kChunkedPost);
}

// The browser request arriving in reads of `state.range(0)` bytes: the cost of
// resuming, which must stay close to the whole-buffer case.
void BM_BrowserGetIncremental(benchmark::State& state) {
  const auto step = static_cast<std::size_t>(state.range(0));
  const std::string_view wire = kBrowserGet;
  RequestParser parser;
  for (auto _ : state) {
    RequestParser::Result r{RequestParser::State::need_more, 0, 0, {}};
    for (std::size_t n = step; r.state == RequestParser::State::need_more; n += step) {
      r = parser.parse(wire.substr(0, n));
    }
    benchmark::DoNotOptimize(r);
    parser.reset();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}

}  // namespace

BENCHMARK(BM_BrowserGet);
BENCHMARK(BM_MinimalGet);
BENCHMARK(BM_ChunkedPost);
BENCHMARK(BM_BrowserGetIncremental)->Arg(1)->Arg(64);
