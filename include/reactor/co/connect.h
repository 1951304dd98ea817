#pragma once
// co::connect: a client connection as an awaitable.
#include <stop_token>

#include "reactor/co/connection.h"
#include "reactor/co/task.h"
#include "reactor/net/tcp_client.h"

namespace reactor::co {

/// Connects to `server` from the awaiting coroutine's loop, with net::TcpClient's timeout
/// and (options.retry) exponential back-off between attempts. Returns the connection, or
/// throws the last attempt's error (without retry), Errc::connect_timed_out, or
/// operation_canceled when stopped (a retrying connect waits until it succeeds or stops).
Task<Connection> connect(net::InetAddress server, net::TcpClientOptions options,
                         std::stop_token token = {});
/// connect() with default options. An overload rather than a default argument: GCC 12
/// destroys a default argument of a non-trivial type (the options hold a std::string)
/// wrongly when the call is awaited inside a coroutine ("free(): invalid pointer").
Task<Connection> connect(net::InetAddress server);

}  // namespace reactor::co
