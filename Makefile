# vre — `make demo` renders a sample with two workers; `make test` runs the test suite.
# Both install what is missing first (ffmpeg from Debian's packages).

SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VRE := target/release/vre

.PHONY: all build deps test-deps test demo lint clean man completions

all: build

# Debian packages, each as COMMAND:PACKAGE (the command proves the package is installed).
# Required for everything:
DEPS := ffmpeg:ffmpeg ffprobe:ffmpeg
# Optional, for the tests that need them (each such test says so and skips when missing;
# CI requires Slurm, see .ci/run):
TEST_EXTRAS := slurmctld:slurm-wlm slurmd:slurm-wlm munged:munge chromium:chromium parallel:parallel

# $(call install,REQUIRED,OPTIONAL): one `apt-get update`, then one install of what is missing.
# A failure to install optional packages is reported, not fatal.
define install
	@need=$$(for p in $(1); do command -v $${p%%:*} >/dev/null || echo $${p##*:}; done | sort -u); \
	want=$$(for p in $(2); do command -v $${p%%:*} >/dev/null || echo $${p##*:}; done | sort -u); \
	if [ -n "$$need$$want" ]; then \
		$(SUDO) apt-get update -q && \
		{ [ -z "$$need" ] || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$need; } && \
		{ [ -z "$$want" ] || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$want \
			|| echo "make: could not install $$want; the tests that need them will be skipped" >&2; }; \
	fi
endef

## deps: ffmpeg/ffprobe from Debian's packages, if missing
deps:
	@command -v cargo >/dev/null || { echo "cargo is missing: install a Rust toolchain (rustup.rs) first" >&2; exit 1; }
	$(call install,$(DEPS),)

## test-deps: deps, plus what some tests use (Slurm, munge, Chromium), best effort
test-deps:
	@command -v cargo >/dev/null || { echo "cargo is missing: install a Rust toolchain (rustup.rs) first" >&2; exit 1; }
	$(call install,$(DEPS),$(TEST_EXTRAS))

## build: the release binary at target/release/vre
build:
	$(CARGO) build --release --locked

## test: unit and integration tests on media the tests generate
test: test-deps man completions
	$(CARGO) test --locked --all-targets

## demo: render a generated 20 s 720p sample with two `vre work` processes and show what happened
demo: deps build
	VRE=$(VRE) examples/demo.sh

## man: man pages generated from the command line (vre.1 and vre-VERB.1) in target/man
man:
	$(CARGO) run --locked --quiet --example man -- target/man

## completions: shell completion scripts in target/completions (vre.bash, vre.zsh, vre.fish)
completions:
	@mkdir -p target/completions
	for shell in bash zsh fish; do \
		$(CARGO) run --locked --quiet -- completions $$shell > target/completions/vre.$$shell || exit 1; \
	done

## lint: formatting and clippy
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
	rm -rf demo
