# Everyday commands. The README's two commands work without make; these are
# shortcuts around them.

GO       ?= go
FUZZTIME ?= 30s
BENCH    ?= .
COUNT    ?= 5

CHAPTERS := $(patsubst %/main.go,%,$(wildcard part*/*/main.go))

.PHONY: test race vet fuzz fuzz-payload scale bench bench-busy bench-numpy bench-python bench-load-compare bench-ladder bench-compare clean list docs $(addprefix run-,$(notdir $(CHAPTERS)))
.PHONY: help cleanup memwatch tools stress browser-1000

## test: the whole suite, as CI runs it (.ci/run adds vet, gofmt and -race)
test:
	$(GO) test ./...

## race: the library's tests under the race detector
race:
	$(GO) test -race ./mp/...

## vet: go vet, and gofmt's list of unformatted files
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

## fuzz: fuzz the frame decoder for FUZZTIME (default 30s)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./mp

## fuzz-payload: fuzz the decoder of typed commands for FUZZTIME
fuzz-payload:
	$(GO) test -run '^$$' -fuzz FuzzPayloadDecode -fuzztime $(FUZZTIME) ./mp

## bench: every benchmark of the library and the manager, COUNT times
## (default 5); BENCH='Call$' picks some (a $ in BENCH reaches go test as it is)
bench:
	$(GO) test -run '^$$' -bench '$(value BENCH)' -count $(COUNT) ./mp/...

## bench-busy: a Call while 1, 10, 100 and 1,000 workers each send a
## message every 10 ms, beside the raw pipe floor measured in turn with it,
## COUNT times for BUSYTIME each (default 1s); -v says why a point skipped
BUSYTIME ?= 1s
bench-busy:
	$(GO) test -run '^$$' -bench 'CallWhileBusy' -benchtime $(BUSYTIME) -count $(COUNT) -v ./mp

## scale: start 1,000 workers under main1's manager and print the figures
scale:
	$(GO) run ./part2/main1 -scale 1000

## browser-1000: the browser test of part3/webview with 1,000 workers (not
## in the suite): how long the page takes to show them all, and each step
browser-1000:
	$(GO) test -count=1 -timeout 10m -run 'TestBrowser$$' -v ./part3/webview -args -browser-workers 1000

## bench-numpy: numpy's fill and sum on the same sizes, for comparison
## (needs python3-numpy; skipped with a message when it is missing)
PYTHON ?= python3
bench-numpy:
	@if $(PYTHON) -c 'import numpy' 2>/dev/null; then \
		$(PYTHON) aux/numpy_compare.py; \
	else \
		echo "bench-numpy: skipped, $(PYTHON) has no numpy (apt-get install python3-numpy, then PYTHON=/usr/bin/python3)"; \
	fi

## bench-python: the original's Pipe round trip, for comparison (python3;
## LOAD=1: beside two CPU-bound competitors, as BenchmarkUnderLoad)
bench-python:
	@if command -v $(PYTHON) >/dev/null; then \
		$(PYTHON) aux/python_compare.py $(if $(filter 1,$(LOAD)),--load); \
	else \
		echo "bench-python: skipped, no $(PYTHON) (apt-get install python3)"; \
	fi

## bench-load-compare: a Call and a Send + Recv against Python's Pipe, beside
## two CPU-bound competitors, alternating ROUNDS times, each side the median
## of five runs (python3, go)
ROUNDS ?= 6
bench-load-compare:
	@if command -v $(PYTHON) >/dev/null; then \
		$(PYTHON) aux/load_compare.py $(ROUNDS); \
	else \
		echo "bench-load-compare: skipped, no $(PYTHON) (apt-get install python3)"; \
	fi

## bench-ladder: the message path's floors and a Call, a Send + Recv and a Sync,
## each in a run of its own, order rotated, ROUNDS times; ratios to the floors
## per round, and their medians (python3, go; SPIN=0: polling off; LOAD=1: beside
## two CPU-bound competitors; BASE=<commit>: that commit's binary alternating with
## this tree's, after ÷ before per round; PIN=<cpu>: both sides on that one CPU,
## where figures hold within a few percent)
SPIN ?=
BASE ?=
PIN ?=
bench-ladder:
	@if command -v $(PYTHON) >/dev/null; then \
		$(PYTHON) aux/ladder.py --rounds $(ROUNDS) $(if $(SPIN),--spin $(SPIN)) $(if $(filter 1,$(LOAD)),--load) $(if $(BASE),--base $(BASE)) $(if $(PIN),--pin $(PIN)); \
	else \
		echo "bench-ladder: skipped, no $(PYTHON) (apt-get install python3)"; \
	fi

## bench-compare: Go and Python's multiprocessing side by side, alternating:
## one table, benchcompare-out/{results.json,table.md,ratios.png,scale.png}
## (QUICK=1: each figure once, up to 100 processes; LOAD=1: beside two CPU-bound competitors;
## PYTHON=... picks the interpreter, else the one that imports numpy)
LOAD ?=
bench-compare:
	$(GO) run ./internal/benchcompare/cmd/benchcompare $(if $(filter 1,$(QUICK)),-quick) $(if $(filter 1,$(LOAD)),-load) $(if $(filter command line environment,$(origin PYTHON)),-python '$(PYTHON)')

## run-<chapter>: run one chapter, e.g. make run-ping, make run-shm2 ARGS='-dtype int64'
$(foreach c,$(CHAPTERS),$(eval run-$(notdir $(c)): ; $$(GO) run ./$(c) $$(value ARGS)))

# Any other run-<name>: say which chapters there are.
run-%:
	@echo "make: no chapter '$*': make list shows the chapters" >&2; exit 2

## list: the chapters, as run-<chapter> takes them
list:
	@printf '%s\n' $(notdir $(CHAPTERS))

## docs: regenerate docs/ from the chapters (go test ./... fails when it is due)
docs:
	$(GO) run ./internal/docgen/cmd/docgen

## stress: go test -count=STRESS_COUNT (default 20) ./..., while another
## go test ./... runs beside it in a loop until it ends: flakes under load
STRESS_COUNT ?= 20
stress:
	bash aux/stress.bash $(STRESS_COUNT)

## clean: stop your processes and remove your shared memory left by a
## crashed run (yours only: your user, and MP_SHM_PREFIX if set)
clean:
	bash aux/cleanup.bash

## cleanup: stop our orphaned processes, remove our stale /dev/shm segments
## (CLEANUP_ARGS=--dry-run to only see what it would do; see --help)
CLEANUP_ARGS ?=
cleanup:
	bash aux/cleanup.bash $(CLEANUP_ARGS)

## memwatch: our processes' memory, live (MEMWATCH_ARGS=--once for one table)
MEMWATCH_ARGS ?=
memwatch:
	bash aux/memwatch.bash $(MEMWATCH_ARGS)

## tools: install smem and htop (Debian/Ubuntu, with apt-get), for memwatch
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
tools:
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y smem htop

## help: this list
help:
	@awk '/^## [a-z<][a-z0-9<>-]*: / { sub(/^## /, ""); i = index($$0, ": "); printf "  %-20s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2); more = 1; next } \
	     more && /^## / { printf "  %-20s %s\n", "", substr($$0, 4); next } { more = 0 }' $(MAKEFILE_LIST)
