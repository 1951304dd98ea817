#pragma once
#include <system_error>

namespace reactor {

/// Errors the library reports itself (everything else is a std::system_category errno).
enum class Errc {
  fd_beyond_select_limit = 1,  ///< the select backend cannot watch descriptors >= FD_SETSIZE
  close_timed_out,             ///< close() could not flush its output before the deadline
  connect_timed_out,
  output_limit_exceeded,  ///< a peer did not read and its output passed the hard limit
  end_of_stream,          ///< the peer ended its stream before a read was complete
  delimiter_not_found,    ///< read_until saw its byte limit pass without the delimiter
  input_discarded,        ///< the connection ended with received bytes still unread
  handshake_timed_out,    ///< a TLS handshake did not finish before its deadline
};

const std::error_category& reactor_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), reactor_category()};
}

}  // namespace reactor

template <>
struct std::is_error_code_enum<reactor::Errc> : std::true_type {};
