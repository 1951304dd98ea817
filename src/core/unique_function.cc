#include "reactor/core/unique_function.h"

#include "core/check.h"

namespace reactor::detail {

void unique_function_empty_call() {
  check_failed(__FILE__, __LINE__, "ops_ != nullptr", "call of an empty UniqueFunction");
}

}  // namespace reactor::detail
