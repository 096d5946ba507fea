# Kiln — top-level driver for the CMake build. See docs/guides/development.md.
#
#   make            optimized build (no sanitizers) into build/  (build/bin/NAME per example)
#   make run        build, then run examples/hello (PORT=4000 by default)
#   make test       every test: ASan+UBSan unit/integration suites (build-asan/), a smoke
#                   run of the optimized build, the aarch64 cross tests under qemu
#                   (build-aarch64/), corpus replay + a 180 s fuzz budget (build-fuzz/)
#   make bench      benchmarks against nginx and h2o (bench/run), never part of the tests
#   make fuzz       long fuzz runs (FUZZ_SECONDS per target, default 600)
#   make dev        rebuild and restart examples/hello on file changes
#   make fresh-check  the README's two commands on a clean clone in a debootstrap chroot
#
# Every target that needs packages calls scripts/bootstrap with its profile first.
SHELL := /bin/bash
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600
FUZZ_BUDGET ?= 180
export JOBS
ifdef PORT
export PORT
endif

.DEFAULT_GOAL := all
.PHONY: all build run test asan bench fuzz dev fresh-check clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap build

# Configure only when needed (cmake --build re-runs it when CMakeLists.txt or a
# globbed directory changes); -k keeps building what can be built.
build: bootstrap
	@if [ ! -f build/Makefile ]; then \
	  cmake -G "Unix Makefiles" -S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_SANITIZE=OFF -DKILN_FUZZ=OFF || exit 1; \
	fi
	@cmake --build build -j$(JOBS)

run: build
	@if [ ! -x build/bin/hello ]; then echo "make run: build/bin/hello was not built (examples/hello)" >&2; exit 1; fi
	@echo "kiln: starting examples/hello on port $${PORT:-4000}" >&2
	exec build/bin/hello

# The sanitizer build alone (make test builds it too).
asan:
	@scripts/bootstrap test
	@if [ ! -f build-asan/Makefile ]; then \
	  cmake -G "Unix Makefiles" -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON || exit 1; \
	fi
	@cmake --build build-asan -j$(JOBS)

test:
	@FUZZ_BUDGET=$(FUZZ_BUDGET) scripts/test

bench: build
	@scripts/bootstrap bench
	@bench/run

fuzz:
	@scripts/fuzz --seconds $(FUZZ_SECONDS) $(if $(filter 0,$(FUZZ_MERGE)),,--merge)

dev:
	@scripts/dev

fresh-check:
	@scripts/fresh-check

clean:
	rm -rf build build-asan build-aarch64 build-fuzz
