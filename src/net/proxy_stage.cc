#include "net/proxy_stage.h"

#include <sys/socket.h>

#include <cerrno>

#include "core/check.h"
#include "core/tracer.h"
#include "net/proxy_header.h"
#include "net/socket_ops.h"

namespace reactor::net::detail {

using reactor::detail::tracer;

namespace {

// The longest header the parser accepts: a v2 fixed part and its largest length (v1's
// 107 bytes are less).
constexpr size_t kMaxHeader = kProxyV2FixedBytes + kProxyV2MaxLength;

ssize_t receive(int fd, void* data, size_t n, int flags) {
  for (;;) {
    ssize_t got = ::recv(fd, data, n, flags);
    if (got >= 0 || errno != EINTR) return got;
  }
}

bool trusted(const std::vector<Cidr>& ranges, const InetAddress& peer) {
  for (const Cidr& range : ranges)
    if (range.contains(peer)) return true;
  return false;
}

// Closing a socket with unread input sends a reset; the peer is owed no reply, but a
// plain end of stream is the clearer answer: drop what it sent so far (MSG_TRUNC discards
// TCP input without copying it), bounded, as a later segment may still arrive. The buffer
// is never written, but sanitizers' recv interceptors assume it is: give them a real one.
void discard_input(int fd, char* buffer) {
  for (int i = 0; i < 4; ++i)
    if (receive(fd, buffer, kMaxHeader, MSG_TRUNC | MSG_DONTWAIT) <= 0) return;
}

}  // namespace

// One peek buffer per loop, shared by its pending descriptors (a handler runs to the end
// before the next): each of them holds only the bytes it took.
ProxyStages::ProxyStages(ConnectionGroup& group, const ProxyProtocolOptions& options)
    : group_(group), options_(options), peek_(std::make_unique<char[]>(kMaxHeader)) {}

ProxyStages::~ProxyStages() {
  REACTOR_CHECK(stages_.empty(), "ProxyStages destroyed with descriptors pending");
}

void ProxyStages::admit(UniqueFd fd) {
  const int raw = fd.get();
  if (closed_ || !trusted(options_.trusted, detail::peer_address(raw))) {
    if (auto* t = tracer(group_.loop)) [[unlikely]]
      t->line("close", {{"fd", raw}, {"reason", closed_ ? "aborted" : "error"}});
    if (!closed_) group_.proxy_rejected.add(1);
    discard_input(raw, peek_.get());
    return;  // `fd` closes here: no reply
  }
  const auto slot = static_cast<uint32_t>(stages_.size());
  auto stage = std::make_unique<ProxyStage>(*this, std::move(fd), slot);
  if (group_.loop.watch(raw, io::kReadable, *stage)) {
    group_.accept_failures.add(1);  // the backend refused it (select's FD_SETSIZE, say)
    return;
  }
  ProxyStage& s = *stage;
  stages_.push_back(std::move(stage));
  s.deadline_ = group_.loop.run_after(options_.header_timeout, [&s] {
    s.deadline_ = {};
    s.owner_.finish(s, Outcome::timed_out);
  });
}

void ProxyStages::close_all() {
  closed_ = true;
  while (!stages_.empty()) finish(*stages_.back(), Outcome::dropped);
}

void ProxyStages::finish(ProxyStage& stage, Outcome outcome) {
  if (auto* t = tracer(group_.loop)) [[unlikely]] {
    static constexpr const char* kReason[] = {"error", "timeout", "peer", "aborted"};
    t->line("close", {{"fd", stage.fd_.get()}, {"reason", kReason[static_cast<size_t>(outcome)]}});
  }
  if (outcome != Outcome::dropped) group_.proxy_rejected.add(1);
  discard_input(stage.fd_.get(), peek_.get());
  remove(stage);  // unwatches and closes: nothing was replied
}

void ProxyStages::hand_over(ProxyStage& stage) {
  UniqueFd fd = std::move(stage.fd_);
  group_.loop.unwatch(fd.get());
  auto header = std::make_unique<ProxyHeader>(stage.header_);
  remove(stage);
  // The application's first bytes may already wait in the kernel. Level-triggered
  // backends report them on the next wait; epoll-et too, because EPOLL_CTL_ADD checks the
  // descriptor's current readiness and queues an event when it is readable.
  if (!group_.start(std::move(fd), std::move(header))) group_.accept_failures.add(1);
}

void ProxyStages::remove(ProxyStage& stage) {
  const uint32_t slot = stage.slot_;
  REACTOR_CHECK(slot < stages_.size() && stages_[slot].get() == &stage, "stale PROXY stage");
  std::unique_ptr<ProxyStage> gone = std::move(stages_[slot]);
  if (slot + 1 != stages_.size()) {
    stages_[slot] = std::move(stages_.back());
    stages_[slot]->slot_ = slot;
  }
  stages_.pop_back();
}

ProxyStage::ProxyStage(ProxyStages& owner, UniqueFd fd, uint32_t slot)
    : owner_(owner), fd_(std::move(fd)), slot_(slot) {}

ProxyStage::~ProxyStage() {
  EventLoop& loop = owner_.group_.loop;
  if (deadline_) loop.cancel(deadline_);
  if (fd_) loop.unwatch(fd_.get());  // a no-op when the watch was refused
}

void ProxyStage::handle_events(uint32_t) {
  // Each round takes at least one byte or ends the stage, and a header is at most
  // kMaxHeader bytes; the bound only guards against a parser that breaks its promise.
  for (size_t round = 0; round <= kMaxHeader; ++round) {
    switch (read_header()) {
      case Step::wait:
        return;
      case Step::took:
        continue;  // all header so far; peek again: more, EAGAIN or the peer's FIN
      case Step::complete:
        return owner_.hand_over(*this);  // destroys this stage
      case Step::rejected:
        return owner_.finish(*this, ProxyStages::Outcome::rejected);
      case Step::peer_closed:
        return owner_.finish(*this, ProxyStages::Outcome::peer_closed);
    }
  }
  owner_.finish(*this, ProxyStages::Outcome::rejected);
}

// Peeks at what the peer sent (never more than a header can be), parses it after what was
// already taken, and takes from the kernel only bytes that the parser says are header.
// need_more with bytes left unread would make a level-triggered backend report the
// descriptor again and again, so they are taken into taken_; then the caller peeks again
// until EAGAIN: on an edge-triggered backend a FIN that came with them brings no new edge.
ProxyStage::Step ProxyStage::read_header() {
  const size_t room = kMaxHeader - taken_.size();
  const ssize_t n = receive(fd_.get(), owner_.peek_.get(), room, MSG_PEEK);
  if (n == 0) {
    if (auto* t = tracer(owner_.group_.loop)) [[unlikely]]
      t->line("read", {{"fd", fd_.get()}, {"bytes", 0}});
    return Step::peer_closed;
  }
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? Step::wait : Step::rejected;
  const auto got = static_cast<size_t>(n);
  const std::string_view peeked(owner_.peek_.get(), got);
  ProxyParse parse;
  if (taken_.empty()) {
    parse = parse_proxy_header(peeked);  // the usual case: the whole header at once
  } else {
    taken_.append(peeked);
    parse = parse_proxy_header(taken_);
    taken_.resize(taken_.size() - got);
  }
  switch (parse.state) {
    case ProxyParse::State::need_more:
      if (got == room) return Step::rejected;  // cannot be: the parser broke its promise
      taken_.append(peeked);
      return take(got) ? Step::took : Step::rejected;
    case ProxyParse::State::complete:
      if (parse.consumed <= taken_.size() || parse.consumed - taken_.size() > got)
        return Step::rejected;
      header_ = parse.header;
      return take(parse.consumed - taken_.size()) ? Step::complete : Step::rejected;
    case ProxyParse::State::error:
      break;
  }
  return Step::rejected;
}

// Takes `n` bytes the peek showed: they are in the socket's queue, so one recv gets them.
bool ProxyStage::take(size_t n) {
  const ssize_t got = receive(fd_.get(), owner_.peek_.get(), n, 0);
  if (got <= 0) return false;
  if (auto* t = tracer(owner_.group_.loop)) [[unlikely]]
    t->line("read", {{"fd", fd_.get()}, {"bytes", got}});
  return got == static_cast<ssize_t>(n);
}

}  // namespace reactor::net::detail
