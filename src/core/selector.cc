#include <array>
#include <stdexcept>
#include <string>

#include "core/selectors.h"

namespace reactor {

namespace {
constexpr std::array<std::string_view, 4> kNames = {"epoll", "epoll-et", "poll", "select"};
}

std::span<const std::string_view> selector_names() {
  return kNames;
}

std::unique_ptr<Selector> make_selector(std::string_view name) {
  if (name.empty() || name == "epoll") return detail::make_epoll_selector(false);
  if (name == "epoll-et") return detail::make_epoll_selector(true);
  if (name == "poll") return detail::make_poll_selector();
  if (name == "select") return detail::make_select_selector();
  throw std::invalid_argument("unknown selector backend '" + std::string(name) +
                              "' (expected epoll, epoll-et, poll or select)");
}

}  // namespace reactor
