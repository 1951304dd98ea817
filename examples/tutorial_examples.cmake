# The tutorial's programs (docs/tutorial.md), one per step. Each is one .cc file in
# examples/ on the public API only (plus example.h), so the same list builds here and
# against an installed reactor (examples/standalone).
set(REACTOR_TUTORIAL_EXAMPLES)
