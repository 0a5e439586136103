# netstack: `make demo` and `make test` are all a new user needs. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
NATIVE := netstack/native/.built
# Debian packages the interop tests and the demo use (installed only when running as root).
DEB_PACKAGES := iproute2 iputils-ping arping tshark nftables tcpdump gcc libc6-dev netcat-openbsd dnsmasq-base curl iperf3 dpdk libdpdk-dev pkg-config

.PHONY: setup system-packages native demo test bench lint clean notebooks fuzz

setup: system-packages $(STAMP) $(NATIVE)

system-packages:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  fi; \
	else echo "not root: skipping Debian packages (tests that need root will be skipped)"; fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

# The DPDK binding (native/dpdk/) is built only where `pkg-config libdpdk` finds DPDK; its
# build script says why when it skips, and the DPDK tests then report themselves skipped.
$(NATIVE): $(STAMP) $(wildcard native/*.c native/*.h native/*.py native/dpdk/*.c native/dpdk/*.h native/dpdk/*.py)
	$(PY) native/build.py
	$(PY) native/dpdk/build.py
	touch $(NATIVE)

native: $(NATIVE)

demo: setup
	$(VENV)/bin/netstack demo

test: setup
	$(PY) -m pytest -q

# JupyterLab on the notebooks (notebooks/README.md): each NN-name.py opens as a notebook,
# paired with its generated .ipynb. Root needs --allow-root; the server listens on localhost.
notebooks: setup
	$(PY) -c "from tests.notebooks.paired import sync_notebooks; sync_notebooks()"
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Coverage-guided fuzzing with atheris (docs/FUZZING.md): each harness for FUZZ_TIME seconds.
# Crashes are saved under /tmp/netstack-fuzz/HARNESS/crashes/ with the command to replay them.
FUZZ_TIME ?= 60
FUZZ_HARNESSES ?= receive codecs calls
fuzz: setup
	@for h in $(FUZZ_HARNESSES); do \
	  echo "== fuzzing $$h for $(FUZZ_TIME) s"; \
	  $(PY) -m netstack.fuzz $$h --time $(FUZZ_TIME) || exit 1; \
	done

bench: setup
	$(VENV)/bin/netstack bench --json bench-results/results.json --png bench-results/results.png

lint: setup
	$(VENV)/bin/ruff check netstack tests native benchmarks labs notebooks

clean:
	rm -rf $(VENV) build *.egg-info netstack/native/_native*.so netstack/native/_dpdk*.so $(NATIVE) native/_build
