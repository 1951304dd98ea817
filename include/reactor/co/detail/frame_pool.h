#pragma once
#include <cstddef>

namespace reactor::co::detail {

/// Coroutine frames come from a per-thread pool: one free list per 64-byte size class, so a
/// loop that keeps starting coroutines of the same shapes stops calling malloc once warm.
/// A frame may be freed on another thread than the one that made it; it joins that
/// thread's pool. The pool keeps at most a few MiB per thread and frees the rest.
void* allocate_frame(std::size_t size);
void free_frame(void* frame, std::size_t size) noexcept;

}  // namespace reactor::co::detail
