#pragma once
// The concrete backends behind reactor::make_selector.
#include <memory>

#include "reactor/core/selector.h"

namespace reactor::detail {

std::unique_ptr<Selector> make_epoll_selector(bool edge_triggered);
std::unique_ptr<Selector> make_poll_selector();
std::unique_ptr<Selector> make_select_selector();

}  // namespace reactor::detail
