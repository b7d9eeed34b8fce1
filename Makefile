# pgan-kit: every set-up step lives here, so two commands do everything on a fresh machine.
#   make lab    set up (if needed) and start JupyterLab on notebooks/
#   make test   set up (if needed) and run the library tests and every notebook (quick mode), in two processes
#   make lint   ruff (pyflakes, import order, bugbear, complexity) and mypy on pgan_lib, as CI runs them
#   make student    write the student copies of the notebooks to student/ (solutions taken out)
#   make notebooks  re-execute every notebook in place (quick mode) and record its fingerprint

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.pgan-installed
export PGAN_MODE ?= quick

.PHONY: lab test lint setup data clean-venv bench student notebooks

# Jupyter refuses to run as root unless told to (containers and CI machines often are root).
lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# The tests run in TEST_WORKERS processes (pytest-xdist), one thread each unless OMP_NUM_THREADS says otherwise.
# --dist loadfile keeps each test file and each notebook in one process, in order (a notebook is one kernel).
TEST_WORKERS ?= 2
test: setup
	MPLBACKEND=Agg OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider \
	  -n $(TEST_WORKERS) --dist loadfile tests notebooks

lint: $(STAMP)
	$(BIN)/ruff check pgan_lib tests benchmarks
	$(BIN)/mypy

# Student copies: solutions become "YOUR CODE HERE" stubs, hidden tests go, exercise outputs are cleared.
student: setup
	$(BIN)/pgan course student --out student

# Committed outputs must come from the current library: tests/test_course.py checks each notebook's fingerprint.
notebooks: setup
	$(BIN)/pgan course execute

setup: $(STAMP) data

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "pgan-kit needs Python 3.10 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Fashion-MNIST: use a verified copy if there is one, else install Debian's package where apt works.
data: $(STAMP)
	@$(BIN)/python -c 'from pgan_lib.data.fashion_mnist import find_files; find_files()' 2>/dev/null \
	  && echo "Fashion-MNIST: found and verified." \
	  || $(MAKE) --no-print-directory apt-data

.PHONY: apt-data
apt-data:
	@if command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "Installing Fashion-MNIST from Debian's package dataset-fashion-mnist"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi
	@$(BIN)/python -c 'from pgan_lib.data.fashion_mnist import find_files; print("Fashion-MNIST: verified in", find_files())'

bench: setup
	$(BIN)/python benchmarks/catalog_render.py

clean-venv:
	rm -rf $(VENV)
