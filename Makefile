# vre — `make demo` renders a sample with two workers; `make test` runs the test suite.
# Both install what is missing first (ffmpeg from Debian's packages).

SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VRE := target/release/vre

.PHONY: all build deps test demo lint clean

all: build

## deps: install ffmpeg/ffprobe from Debian's packages if missing (apt-get update once, then install)
deps:
	@command -v cargo >/dev/null || { echo "cargo is missing: install a Rust toolchain (rustup.rs) first" >&2; exit 1; }
	@if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg; \
	fi

## build: the release binary at target/release/vre
build:
	$(CARGO) build --release --locked

## test: unit and integration tests on media the tests generate
test: deps
	$(CARGO) test --locked --all-targets

## demo: render a generated 20 s 720p sample with two `vre work` processes and show what happened
demo: deps build
	VRE=$(VRE) examples/demo.sh

## lint: formatting and clippy
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
	rm -rf demo
