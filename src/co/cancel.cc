#include "reactor/co/detail/cancel.h"

#include <system_error>

namespace reactor::co::detail {

CancelScope::CancelScope(CancelScope* parent) noexcept {
  if (!parent) return;
  if (parent->stop_requested())
    requested_ = true;
  else
    parent->listen(*this);
}

CancelScope::~CancelScope() {
  unlisten(*this);
  // Listeners outlive a scope only if their awaiter leaked; unlink them so none points here.
  while (head_) unlisten(*head_);
}

void CancelScope::request_stop() noexcept {
  if (requested_) return;
  requested_ = true;
  // Each listener is unlinked before it is told, so it may listen elsewhere or be
  // destroyed by what it does; the list is re-read from its head every time.
  while (StopListener* listener = head_) {
    unlisten(*listener);
    listener->on_stop();
  }
}

void throw_canceled() {
  throw std::system_error(std::make_error_code(std::errc::operation_canceled));
}

}  // namespace reactor::co::detail
