#include "reactor/co/time.h"

namespace reactor::co {

std::system_error timed_out_error() {
  return std::system_error(std::make_error_code(std::errc::timed_out));
}

}  // namespace reactor::co
