#pragma once
// The life of a TcpConnection as data: a read side, a write side, and a close mode saying
// who began the ending and how it ends. TcpConnection declares the three enums opaquely
// (their values stay out of the public header); they are defined here, next to the one
// table that moves them. tcp_connection.cc implements each row in the function named
// after the event (peer FIN: handle_peer_eof; flushed: after_flush; close timer: the
// timer close_in_loop arms) and changes the state nowhere else.
//
// clang-format off
// event          guard                   read      write     mode             action
// -------------  ----------------------  --------  --------  ---------------  ------------------
// pause_reading  read == reading         paused    .         .                drop read interest
// resume_reading read == paused          reading   .         .                re-deliver input
// peer FIN       read == eof             .         .         .                (seen already)
// peer FIN       write == shut           eof       closed    none -> peer     finish(reason)
// peer FIN       write == open           eof       .         none -> peer     on_peer_shutdown,
//                                                                             else shutdown row
// peer FIN       write == flushing       eof       .         .                (flush finishes)
// shutdown()     write == open           .         flushing  none -> shutdown flushed if no output
// close(l)       mode none or shutdown   discard*  flushing* close|no_linger  flushed if no output;
//                                                                             arm the close timer
// close(l)       mode == peer            .         flushing* peer_then_close  as above
// close(l)       otherwise               .         .         .                (closing or closed)
// flushed        no_linger, no input     .         closed    .                finish(local)
// flushed        write == flushing       .         shut      .                SHUT_WR,
//                                                                             on_write_closed, then:
// flushed        read == eof             .         closed    .                finish(reason)
// close timer    write != closed         .         closed    .                nothing queued:
//                                                                             finish(local); else
//                                                                             RST, finish(timeout)
// abort()        write != closed         .         closed    .                RST, finish(aborted)
// I/O error      write != closed         .         closed    .                finish(error)
// clang-format on
//
//   *  read becomes discarding (discard) unless it is eof; write becomes flushing only from open.
//   "flushed": no output is queued while write is flushing or shut (at once, or when
//   handle_write empties the queue). reason: peer when mode is peer or peer_then_close
//   (the peer's FIN came while we could still send), local otherwise.
//
// The legal combinations and their names (docs/architecture.md draws the same graph):
//
//   name          read            write     mode
//   open          reading|paused  open      none
//   peer_closed   eof             open      peer             on_peer_shutdown decides
//   shutting      reading|paused  flushing  shutdown         input still delivered
//   half_shut     reading|paused  shut      shutdown         waiting for the peer's FIN
//   answering     eof             flushing  peer             flushing the last reply
//   finishing     eof             flushing  shutdown         peer done; flushing ours
//   closing       discarding|eof  flushing  close|no_linger|peer_then_close
//   lingering     discarding      shut      close|no_linger  waiting for the FIN
//   closed        any             closed    any              on_close told; fd gone
#include <cstdint>

#include "reactor/net/tcp_connection.h"

namespace reactor::net::detail {

/// What happens to bytes the peer sends.
enum class ReadState : uint8_t {
  reading,     ///< delivered to on_message
  paused,      ///< left in the kernel (pause_reading): back-pressure on the peer
  discarding,  ///< close(): read and dropped, only to see the peer's FIN
  eof,         ///< the peer's FIN arrived: nothing more to read
};

/// What happens to bytes we send.
enum class WriteState : uint8_t {
  open,      ///< send() writes or queues
  flushing,  ///< shutdown() or close(): send() is ignored; queued output still goes out
  shut,      ///< flushed, and our FIN sent (SHUT_WR)
  closed,    ///< finished: on_close told, descriptor gone; nothing happens any more
};

/// Who began the ending, and how it ends.
enum class CloseMode : uint8_t {
  none,             ///< nobody has begun
  peer,             ///< the peer's FIN came first (reason peer)
  peer_then_close,  ///< ...and then close() (reason peer; the close timer runs)
  shutdown,         ///< we began with shutdown() (reason local)
  close,            ///< we began with close(Linger::until_peer_fin), maybe after shutdown()
  no_linger,        ///< we began with close(Linger::none), maybe after shutdown()
};

// A connection starts zero-initialised: reading, open, none.
static_assert(ReadState{} == ReadState::reading && WriteState{} == WriteState::open &&
              CloseMode{} == CloseMode::none);

/// The reason a graceful ending reports: who closed first.
inline CloseReason ending_reason(CloseMode mode) {
  return mode == CloseMode::peer || mode == CloseMode::peer_then_close ? CloseReason::peer
                                                                       : CloseReason::local;
}

}  // namespace reactor::net::detail
