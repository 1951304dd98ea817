#include "reactor/co/detail/cancel.h"

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

void CancelScope::listen(StopListener& listener) noexcept {
  listener.scope_ = this;
  listener.prev_ = nullptr;
  listener.next_ = head_;
  if (head_) head_->prev_ = &listener;
  head_ = &listener;
}

void CancelScope::unlisten(StopListener& listener) noexcept {
  CancelScope* scope = listener.scope_;
  if (!scope) return;
  if (listener.prev_)
    listener.prev_->next_ = listener.next_;
  else
    scope->head_ = listener.next_;
  if (listener.next_) listener.next_->prev_ = listener.prev_;
  listener.scope_ = nullptr;
  listener.prev_ = listener.next_ = nullptr;
}

}  // namespace reactor::co::detail
