// timers_signals [MS]: 50 lines; seed 2 leaves timers and signals as an exercise, in words only,
// no Python. One loop, one thread, no sleep: a periodic timer (every MS ms, default 1000), a
// one-shot, a timer cancelled before it is due, and signals that arrive as ordinary events
// (signalfd), so a handler never cuts into another callback and may do what any callback does.
// One line on stdout per event. SIGUSR1: a status line; SIGHUP: the tick count starts again (a
// "reload"); SIGINT, SIGTERM: stop. Seed 2's loop, select(timeout=None), could run no timer,
// and a Python signal handler runs between any two bytecodes, inside whatever callback runs.
#include <reactor/core/event_loop.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <utility>

using namespace reactor;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line leaves at once, even into a pipe
  const std::chrono::milliseconds every(argc > 1 ? std::atoi(argv[1]) : 1000);
  EventLoop loop;
  unsigned ticks = 0;
  bool fired = false;
  TimerId never = loop.run_after(every * 2, [] { std::printf("cancelled timer ran!\n"); });
  loop.run_every(every, [&] {
    std::printf("tick %u\n", ++ticks);
    if (never) {
      loop.cancel(std::exchange(never, TimerId{}));
      std::printf("cancelled the timer due at 2 intervals\n");
    }
  });
  loop.run_after(every * 5 / 2, [&] {
    fired = true;
    std::printf("one-shot timer fired (2.5 intervals in)\n");
  });
  loop.on_signal(SIGUSR1, [&](int) {
    std::printf("status: %u ticks, one-shot %s\n", ticks, fired ? "fired" : "pending");
  });
  loop.on_signal(SIGHUP, [&](int) {
    std::printf("SIGHUP: tick count reset (was %u)\n", std::exchange(ticks, 0));
  });
  for (int signo : {SIGINT, SIGTERM})
    loop.on_signal(signo, [&](int s) {
      std::printf("%s: stopping after %u ticks\n", s == SIGINT ? "SIGINT" : "SIGTERM", ticks);
      loop.stop();
    });
  std::printf("pid %d: SIGUSR1 status, SIGHUP reset, SIGINT or SIGTERM stop\n", int(getpid()));
  loop.run();
}
