#include "commands.h"
namespace reactor::apps {
void add_http_command(CLI::App&, std::function<int()>&) {}
}  // namespace reactor::apps
