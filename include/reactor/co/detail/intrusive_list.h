#pragma once
// The one intrusive, doubly linked list of the coroutine layer: a scope's stop listeners,
// the runtime's roots and its loop-bound objects. Linking never allocates.

namespace reactor::co::detail {

template <class T>
class ListNode {
 protected:
  ListNode() = default;
  ~ListNode() = default;

 private:
  template <class U>
  friend void list_push(U*& head, U& node) noexcept;
  template <class U>
  friend void list_erase(U*& head, U& node) noexcept;
  T* prev_ = nullptr;
  T* next_ = nullptr;
};

/// Puts `node` (linked nowhere) first in the list that starts at `head`.
template <class U>
void list_push(U*& head, U& node) noexcept {
  node.prev_ = nullptr;
  node.next_ = head;
  if (head) head->prev_ = &node;
  head = &node;
}

/// Takes `node` out of the list that starts at `head` (which it is in).
template <class U>
void list_erase(U*& head, U& node) noexcept {
  if (node.prev_)
    node.prev_->next_ = node.next_;
  else
    head = node.next_;
  if (node.next_) node.next_->prev_ = node.prev_;
  node.prev_ = node.next_ = nullptr;
}

}  // namespace reactor::co::detail
