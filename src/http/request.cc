#include "reactor/http/request.h"

namespace reactor::http {

// A linear scan: requests carry a dozen fields, and a map would cost an allocation
// per request for lookups that a server makes only a handful of times.
std::optional<std::string_view> Request::header(std::string_view name) const noexcept {
  for (const Header& h : headers_) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

}  // namespace reactor::http
