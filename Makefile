# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
APT_PACKAGES := tshark tcpdump libpcap0.8 chromium softflowd nfdump
# The fast engine's kernels compiled ahead of time (collectors/_aot.py): about a minute the
# first time and after a kernel source changes, otherwise a quick check; then the gate's
# (filters/_aot.py, a few seconds).
AOT := $(BIN)/python -m collectors._aot && $(BIN)/python -m filters._aot
# Our own modules byte-compiled, as pip does for an installed package: an editable install
# leaves them as source, and where PYTHONDONTWRITEBYTECODE is set every process would compile
# them again (about 50 ms per command).
BYTECODE := $(BIN)/python -m compileall -q collectors detectors exchange filters metagate policies >/dev/null

.PHONY: demo test lint bench system-packages clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $@

# tshark, tcpdump, libpcap, chromium (the browser tests), softflowd and nfdump (the flow-record
# peers) from Debian, installed only when missing.
system-packages:
	@missing=""; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	command -v tcpdump >/dev/null || missing="$$missing tcpdump"; \
	command -v softflowd >/dev/null || missing="$$missing softflowd"; \
	command -v nfcapd >/dev/null || missing="$$missing nfdump"; \
	ldconfig -p | grep -q 'libpcap.so' || missing="$$missing libpcap0.8"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP)
	$(AOT)
	$(BYTECODE)
	$(BIN)/metagate demo

test: $(TEST_STAMP) system-packages
	$(AOT)
	$(BYTECODE)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The peers measured against (nfstream) get a venv of their own, so that their dependencies
# (pandas) are not imported by metagate's processes.
PEERS := bench/out/peers

$(PEERS)/bin/python:
	$(PY) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet 'nfstream>=6.6,<6.7'

bench: $(TEST_STAMP) system-packages $(PEERS)/bin/python
	$(AOT)
	$(BYTECODE)
	$(BIN)/python bench/collect_bench.py
	$(BIN)/python bench/gate_bench.py
	$(BIN)/python bench/cryptopan_bench.py
	$(BIN)/python bench/ipfix_bench.py

clean:
	rm -rf $(VENV) build *.egg-info collectors/_fastcore*.so
