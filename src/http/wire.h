#pragma once
// How a response is laid out on the wire (RFC 9112 §4, §6): status line, the cached Date,
// the user's headers, Content-Length, Connection, blank line, body.
#include <string_view>

#include "reactor/http/response.h"
#include "reactor/net/buffer.h"

namespace reactor::http::detail {

enum class ConnectionHeader { none, close, keep_alive };

/// Appends `response`; for a HEAD request (`head`), the headers only.
void write_response(net::Buffer& out, const Response& response, bool head,
                    ConnectionHeader connection);

/// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", formatted at most once a second per thread.
std::string_view date_header();

}  // namespace reactor::http::detail
