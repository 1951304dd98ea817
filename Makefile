# Two commands matter: `make run` and `make test`. Everything else is a step they use.
JOBS      ?= $(shell nproc)
WERROR    ?= $(if $(CI),ON,OFF)
CMAKE_ARGS = -DREACTOR_WERROR=$(WERROR)
CTEST      = ctest --output-on-failure -j $(JOBS) --timeout 300

.PHONY: setup configure build run test test-release test-asan test-tsan test-install test-fuzz bench format clean

setup:
	@scripts/setup.sh

configure: setup
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null

build: configure
	cmake --build build -j $(JOBS)

# A newcomer's first start builds only what it runs: the library and the program.
run: configure
	cmake --build build -j $(JOBS) --target reactor_cli
	./build/bin/reactor http --host 127.0.0.1 --port 8080

# Every test: optimised build, ASan+UBSan over everything, TSan over the threaded parts,
# the installed package used by a consumer project, and a short fuzz run.
test: setup test-release test-asan test-tsan test-install test-fuzz
	@echo "make test: all suites passed"

test-release: build
	cd build && $(CTEST)

test-asan: setup
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREACTOR_SANITIZE=address,undefined \
	  -DREACTOR_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $(CTEST)

test-tsan: setup
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREACTOR_SANITIZE=thread \
	  -DREACTOR_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(CTEST) -L threads

test-install: build
	scripts/test-install.sh build

test-fuzz: setup
	scripts/fuzz.sh 20

# The peer comparison (about 20 minutes): regenerates docs/performance.md and .png,
# then its kernel-split section (bench/kernel_split.py, about 8 more; needs perf).
bench:
	scripts/setup.sh bench
	python3 bench/run.py
	python3 bench/kernel_split.py

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf build build-asan build-tsan build-fuzz
