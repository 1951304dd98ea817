// libFuzzer target for the PROXY protocol header parser.
//
// Each input is a connection's first bytes. The parser is stateless, so a reader that
// receives them in pieces calls it again on a longer prefix each time; the target
// replays that three ways (whole, split at a point derived from the data, and for short
// inputs one byte at a time) and checks that all reach the same verdict, and the
// parser's promises: consumed <= size; need_more only while every byte may still be the
// header's (so every prefix of a complete header is need_more, and complete comes
// exactly with the header's last byte); the bytes after a header change nothing. Every
// call gets a fresh exact-size heap copy, so ASan sees any read past its end.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/proxy_header.h"

namespace {

using reactor::net::detail::kProxyV1MaxBytes;
using reactor::net::detail::kProxyV2FixedBytes;
using reactor::net::detail::kProxyV2MaxLength;
using reactor::net::detail::parse_proxy_header;
using reactor::net::detail::ProxyParse;
using State = ProxyParse::State;

constexpr std::size_t kBytewiseUpTo = 512;

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

// A verdict, owning its text, comparable across calls.
struct Outcome {
  State state = State::need_more;
  std::size_t consumed = 0;
  std::string error, source, destination;
  int version = 0;
  bool local = false;
  bool operator==(const Outcome&) const = default;
};

Outcome parse_copy(std::string_view data) {
  const auto copy = std::make_unique<char[]>(data.size());
  if (!data.empty()) std::memcpy(copy.get(), data.data(), data.size());
  const ProxyParse p = parse_proxy_header({copy.get(), data.size()});
  Outcome o{p.state, p.consumed, std::string(p.error), {}, {}, p.header.version, p.header.local};
  if (p.header.source) o.source = p.header.source->to_string();
  if (p.header.destination) o.destination = p.header.destination->to_string();
  return o;
}

void check_alone(const Outcome& o, std::string_view data) {
  FUZZ_CHECK(o.consumed <= data.size());
  switch (o.state) {
    case State::need_more:
      FUZZ_CHECK(o.consumed == 0 && o.error.empty());
      // No header is longer, so a reader never buffers more than this.
      FUZZ_CHECK(data.size() < (data.empty() || data[0] == 'P'
                                    ? kProxyV1MaxBytes
                                    : kProxyV2FixedBytes + kProxyV2MaxLength));
      break;
    case State::error:
      FUZZ_CHECK(o.consumed == 0 && !o.error.empty());
      break;
    case State::complete:
      FUZZ_CHECK(o.consumed > 0 && o.error.empty());
      FUZZ_CHECK(o.version == 1 || o.version == 2);
      FUZZ_CHECK(o.version != 1 || o.consumed <= kProxyV1MaxBytes);
      FUZZ_CHECK(o.consumed <= kProxyV2FixedBytes + kProxyV2MaxLength);
      // Addresses come both or neither, and only when the header is not local.
      FUZZ_CHECK(o.source.empty() == o.destination.empty());
      FUZZ_CHECK(o.local == o.source.empty());
      break;
  }
}

// Feeds growing prefixes ending at `cuts`, as a reader would; returns the first verdict
// that is not need_more (or need_more) and the prefix length that gave it.
Outcome replay(std::string_view data, const std::vector<std::size_t>& cuts, std::size_t& at) {
  for (const std::size_t cut : cuts) {
    const Outcome o = parse_copy(data.substr(0, cut));
    check_alone(o, data.substr(0, cut));
    if (o.state != State::need_more) {
      at = cut;
      return o;
    }
  }
  at = data.size();
  return {};
}

// A complete header: every proper prefix is need_more (all of them when short, else a
// spread), and what follows it changes nothing.
void check_complete(std::string_view data, const Outcome& whole) {
  const std::string_view header = data.substr(0, whole.consumed);
  const std::size_t step = header.size() <= kBytewiseUpTo ? 1 : header.size() / 64;
  for (std::size_t k = 0; k < header.size(); k += step)
    FUZZ_CHECK(parse_copy(header.substr(0, k)).state == State::need_more);
  FUZZ_CHECK(parse_copy(header.substr(0, header.size() - 1)).state == State::need_more);
  FUZZ_CHECK(parse_copy(header) == whole);
  FUZZ_CHECK(parse_copy(std::string(header) + "PROXY UNKNOWN\r\n") == whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const Outcome whole = parse_copy(data);
  check_alone(whole, data);
  if (whole.state == State::complete) check_complete(data, whole);

  std::size_t at = 0;
  const std::size_t k =
      size == 0 ? 0 : (static_cast<std::size_t>(bytes[size / 2]) * 131 + size) % size;
  FUZZ_CHECK(replay(data, {k, size}, at) == whole);

  if (size <= kBytewiseUpTo) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i <= size; ++i) cuts.push_back(i);
    FUZZ_CHECK(replay(data, cuts, at) == whole);
    // A header completes exactly with its last byte, not later.
    FUZZ_CHECK(whole.state != State::complete || at == whole.consumed);
  }
  return 0;
}
