/* The cost of an empty system call on this machine: entry, a trivial body, exit.
 *
 * usage: syscall_cost [CALLS [ROUNDS]]   (default 1000000 calls, 7 rounds)
 * Prints one line per kind: "getppid ns_per_call median min max" and the same for a
 * read() on a bad descriptor. Timed with the thread's own CPU clock, so time the
 * scheduler gives to other work on a shared machine is not counted; run it pinned.
 * getppid goes through syscall() because glibc may answer getpid-like calls itself. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double per_call(int kind, long calls) {
  char byte;
  double start = now_ns();
  for (long i = 0; i < calls; ++i) {
    if (kind == 0)
      syscall(SYS_getppid);
    else if (read(-1, &byte, 1) != -1)
      abort(); /* fd -1 must fail with EBADF */
  }
  return (now_ns() - start) / calls;
}

int main(int argc, char** argv) {
  long calls = argc > 1 ? atol(argv[1]) : 1000000;
  int rounds = argc > 2 ? atoi(argv[2]) : 7;
  if (calls <= 0 || rounds <= 0 || rounds > 101) {
    fprintf(stderr, "usage: syscall_cost [CALLS [ROUNDS<=101]]\n");
    return 2;
  }
  static const char* names[] = {"getppid", "read_badfd"};
  for (int kind = 0; kind < 2; ++kind) {
    double t[101];
    per_call(kind, calls / 10); /* warm-up */
    for (int r = 0; r < rounds; ++r) t[r] = per_call(kind, calls);
    qsort(t, rounds, sizeof t[0], cmp);
    printf("%s %.1f %.1f %.1f\n", names[kind], t[rounds / 2], t[0], t[rounds - 1]);
  }
  return 0;
}
