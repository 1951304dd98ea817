#pragma once
// Internal helpers for the two kinds of failure the library distinguishes:
// programming errors (abort with a message, in every build) and setup failures
// (std::system_error carrying errno).

namespace reactor::detail {

[[noreturn]] void check_failed(const char* file, int line, const char* expr, const char* message);

/// Throws std::system_error for the current errno; `what` names the failed call.
[[noreturn]] void throw_errno(const char* what);

}  // namespace reactor::detail

/// An assertion that stays on in release builds: misuse of the API aborts loudly.
#define REACTOR_CHECK(cond, message)                                       \
  do {                                                                     \
    if (!(cond)) [[unlikely]]                                              \
      ::reactor::detail::check_failed(__FILE__, __LINE__, #cond, message); \
  } while (0)
