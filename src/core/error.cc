#include "reactor/core/error.h"

#include <string>

namespace reactor {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "reactor"; }
  std::string message(int code) const override {
    switch (static_cast<Errc>(code)) {
      case Errc::fd_beyond_select_limit:
        return "descriptor is beyond FD_SETSIZE, which the select backend cannot watch";
      case Errc::close_timed_out:
        return "close timed out with output still unsent";
      case Errc::connect_timed_out:
        return "connect timed out";
      case Errc::output_limit_exceeded:
        return "peer is not reading: output limit exceeded";
      case Errc::end_of_stream:
        return "the peer ended the stream before the read was complete";
      case Errc::delimiter_not_found:
        return "no delimiter within the read limit";
      case Errc::input_discarded:
        return "the connection ended with received bytes still unread";
      case Errc::handshake_timed_out:
        return "the TLS handshake did not finish in time";
    }
    return "unknown reactor error";
  }
};

}  // namespace

const std::error_category& reactor_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace reactor
