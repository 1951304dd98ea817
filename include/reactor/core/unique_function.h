#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace reactor {

namespace detail {
/// Aborts with a message: calling an empty UniqueFunction is a programming error.
[[noreturn]] void unique_function_empty_call();
}  // namespace detail

template <class Signature>
class UniqueFunction;

/// A move-only callable, like C++23's std::move_only_function (which GCC 12 offers only
/// with -std=c++23): it may own move-only captures (a UniqueFd, a Responder). Callables of
/// up to kInlineSize bytes whose move cannot throw live inside the object; bigger ones on
/// the heap. Moves never throw and never allocate. Empty when default-constructed, made
/// from nullptr or moved from. Not thread-safe (one owner at a time, like any value).
template <class R, class... Args>
class UniqueFunction<R(Args...)> {
 public:
  /// 56 bytes make the whole object one 64-byte cache line (plus the operations pointer)
  /// and hold what the library posts most: a shared_ptr plus a std::string (48 bytes, a
  /// connection's send()), or a shared_ptr plus up to five words. std::function keeps only
  /// 16 bytes inline, so a shared_ptr and one more capture already cost an allocation.
  static constexpr size_t kInlineSize = 56;

  UniqueFunction() noexcept = default;
  UniqueFunction(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)

  /// Wraps any callable invocable as R(Args...); a null function pointer gives an empty one.
  template <class F, class D = std::decay_t<F>>
  requires(!std::is_same_v<D, UniqueFunction> && std::is_constructible_v<D, F> &&
           std::is_invocable_r_v<R, D&, Args...>)
      UniqueFunction(F&& f) {  // NOLINT(google-explicit-constructor): like std::function
    // A function passed by name (F a function reference) is never null: no test, which GCC
    // would warn about.
    if constexpr (std::is_pointer_v<std::remove_reference_t<F>> || std::is_member_pointer_v<D>) {
      if (f == nullptr) return;
    }
    if constexpr (fits_inline<D>()) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    } else {
      ::new (static_cast<void*>(storage_)) D*(new D(std::forward<F>(f)));
    }
    ops_ = &kOps<D>;
  }

  UniqueFunction(UniqueFunction&& other) noexcept : ops_(std::exchange(other.ops_, nullptr)) {
    if (ops_ != nullptr) ops_->relocate(other.storage_, storage_);
  }
  UniqueFunction& operator=(UniqueFunction&& other) noexcept {
    if (this != &other) {
      reset();
      if (other.ops_ != nullptr) other.ops_->relocate(other.storage_, storage_);
      ops_ = std::exchange(other.ops_, nullptr);
    }
    return *this;
  }
  UniqueFunction& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  UniqueFunction(const UniqueFunction&) = delete;
  UniqueFunction& operator=(const UniqueFunction&) = delete;
  ~UniqueFunction() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Calls the target; aborts when empty.
  R operator()(Args... args) {
    if (ops_ == nullptr) [[unlikely]]
      detail::unique_function_empty_call();
    return ops_->call(storage_, std::forward<Args>(args)...);
  }

  /// True when a callable of type F is stored inline (no allocation).
  template <class F>
  static constexpr bool fits_inline() {
    return sizeof(F) <= kInlineSize && alignof(F) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<F>;
  }

 private:
  // One table per stored type: the object itself holds only a pointer to it.
  struct Ops {
    R (*call)(void* storage, Args&&... args);
    void (*relocate)(void* from, void* to) noexcept;  // move-construct `to`, destroy `from`
    void (*destroy)(void* storage) noexcept;
  };

  template <class D>
  static D& target(void* storage) noexcept {
    if constexpr (fits_inline<D>())
      return *std::launder(static_cast<D*>(storage));
    else
      return **std::launder(static_cast<D**>(storage));
  }
  template <class D>
  static R call(void* storage, Args&&... args) {
    if constexpr (std::is_void_v<R>)
      std::invoke(target<D>(storage), std::forward<Args>(args)...);
    else
      return std::invoke(target<D>(storage), std::forward<Args>(args)...);
  }
  template <class D>
  static void relocate(void* from, void* to) noexcept {
    if constexpr (fits_inline<D>()) {
      D& source = target<D>(from);
      ::new (to) D(std::move(source));
      source.~D();
    } else {
      ::new (to) D*(*std::launder(static_cast<D**>(from)));  // the heap object stays put
    }
  }
  template <class D>
  static void destroy(void* storage) noexcept {
    if constexpr (fits_inline<D>())
      target<D>(storage).~D();
    else
      delete &target<D>(storage);
  }
  template <class D>
  static constexpr Ops kOps = {&call<D>, &relocate<D>, &destroy<D>};

  void reset() noexcept {
    if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(storage_);
  }

  // Storage first: with the pointer after it the object is exactly 64 bytes.
  alignas(std::max_align_t) std::byte storage_[kInlineSize];
  const Ops* ops_ = nullptr;
};

}  // namespace reactor
