#pragma once
#include <functional>
#include <string_view>

namespace reactor {

enum class LogLevel : unsigned char { debug, info, warning, error };

/// Where the library's own messages go (an accept failure, a handler's exception, ...).
/// Called on the thread that logs, possibly several at once: a sink must be thread-safe.
using LogSink = std::function<void(LogLevel, std::string_view message)>;

/// Any thread. Replaces the sink; an empty one restores the default, which writes
/// "reactor: <level>: <message>" lines to stderr.
void set_log_sink(LogSink sink);
/// Any thread. Messages below `level` are dropped before they are formatted (default: info).
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
/// Any thread. Hands `message` to the sink when `level` is enabled.
void log(LogLevel level, std::string_view message);

std::string_view to_string(LogLevel level);

}  // namespace reactor
