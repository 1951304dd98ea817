#include "core/check.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace reactor::detail {

void check_failed(const char* file, int line, const char* expr, const char* message) {
  std::fprintf(stderr, "reactor: %s:%d: check '%s' failed: %s\n", file, line, expr, message);
  std::abort();
}

void throw_errno(const char* what) {
  throw std::system_error(errno, std::system_category(), what);
}

}  // namespace reactor::detail
