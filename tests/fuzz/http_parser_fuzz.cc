// libFuzzer target for the HTTP/1.1 request parser.
//
// Each input is parsed as one connection's byte stream three ways — whole, split at a
// point derived from the data, and (for short inputs) one byte at a time — and every
// way must reach the same verdicts. Every call gets a fresh exact-size heap copy, so
// the buffer moves between calls and ASan sees any read past its end. Small limits
// let short inputs reach the 413/414/431 paths.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"
#include "reactor/http/request.h"

namespace {

using reactor::http::Header;
using reactor::http::Request;
using reactor::http::detail::Limits;
using reactor::http::detail::RequestParser;
using State = RequestParser::State;

constexpr std::size_t kMaxPipelined = 16;
constexpr std::size_t kBytewiseUpTo = 512;

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

Limits fuzz_limits() {
  Limits limits;
  limits.max_request_line = 256;
  limits.max_header_bytes = 1024;
  limits.max_headers = 12;
  limits.max_body = 2048;
  return limits;
}

// What one request or the final verdict looked like, owning its bytes.
struct Outcome {
  State state = State::need_more;
  int status = 0;
  std::size_t consumed = 0;
  std::string fields;  // every view of a complete request, serialised
  bool operator==(const Outcome&) const = default;
};

bool inside(std::string_view v, std::string_view in) {
  return v.empty() || (v.data() >= in.data() && v.data() + v.size() <= in.data() + in.size());
}

std::string serialise(const Request& r, std::string_view in) {
  FUZZ_CHECK(!r.method().empty() && inside(r.method(), in));
  FUZZ_CHECK(!r.target().empty() && inside(r.target(), in));
  FUZZ_CHECK(inside(r.path(), in) || r.path() == "/");
  FUZZ_CHECK(inside(r.query(), in));
  const bool chunked = r.header("Transfer-Encoding").has_value();
  FUZZ_CHECK(chunked || inside(r.body(), in));
  FUZZ_CHECK(r.body().size() <= fuzz_limits().max_body);
  std::string s;
  for (std::string_view part : {r.method(), r.target(), r.path(), r.query(), r.body()}) {
    s.append(part).push_back('\0');
  }
  for (const Header& h : r.headers()) {
    FUZZ_CHECK(!h.name.empty() && inside(h.name, in) && inside(h.value, in));
    s.append(h.name).push_back(':');
    s.append(h.value).push_back('\0');
  }
  s.push_back(static_cast<char>(r.version()));
  s.push_back(r.keep_alive() ? 'k' : '-');
  s.push_back(r.expects_continue() ? 'c' : '-');
  return s;
}

// Replays `data` as a connection that receives it in pieces ending at `cuts`.
std::vector<Outcome> replay(std::string_view data, const std::vector<std::size_t>& cuts) {
  RequestParser parser(fuzz_limits());
  std::vector<Outcome> outcomes;
  std::size_t start = 0;
  for (const std::size_t cut : cuts) {
    while (outcomes.size() < kMaxPipelined) {
      const std::size_t n = cut - start;
      const auto copy = std::make_unique<char[]>(n);
      if (n != 0) std::memcpy(copy.get(), data.data() + start, n);
      const std::string_view in(copy.get(), n);
      const RequestParser::Result r = parser.parse(in);
      if (r.state == State::need_more) {
        FUZZ_CHECK(r.consumed == 0 && r.status == 0);
        break;
      }
      Outcome o{r.state, r.status, r.consumed, {}};
      if (r.state == State::error) {
        FUZZ_CHECK(r.status == 400 || r.status == 413 || r.status == 414 || r.status == 431 ||
                   r.status == 501 || r.status == 505);
        FUZZ_CHECK(!r.reason.empty());
        FUZZ_CHECK(parser.parse(in).status == r.status);  // sticky until reset()
        o.consumed = 0;                                   // diagnostic only
        outcomes.push_back(o);
        return outcomes;
      }
      FUZZ_CHECK(r.consumed > 0 && r.consumed <= n);
      FUZZ_CHECK(parser.headers_done());
      o.fields = serialise(parser.request(), in.substr(0, r.consumed));
      outcomes.push_back(std::move(o));
      start += r.consumed;
      parser.reset();
    }
  }
  outcomes.push_back({State::need_more, 0, 0, {}});
  return outcomes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const std::vector<Outcome> whole = replay(data, {size});

  std::size_t k = size == 0 ? 0 : (static_cast<std::size_t>(bytes[size / 2]) * 131 + size) % size;
  FUZZ_CHECK(replay(data, {k, size}) == whole);

  if (size <= kBytewiseUpTo) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i <= size; ++i) cuts.push_back(i);
    FUZZ_CHECK(replay(data, cuts) == whole);
  }
  return 0;
}
