# The tutorial's programs (docs/tutorial.md), one per step. Each is one .cc file in
# examples/ on the public API only (plus example.h), so the same list builds here and
# against an installed reactor (examples/standalone).
set(REACTOR_TUTORIAL_EXAMPLES)
list(APPEND REACTOR_TUTORIAL_EXAMPLES selector_echo callback_loop echo_server server_received
     http_hello url_echo co_url_echo)
list(APPEND REACTOR_TUTORIAL_EXAMPLES edge_vs_level partial_writes chat timers_signals
     scale_threads scale_processes tcp_udp_stdin)
