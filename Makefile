# Two commands are all a learner needs:  `make lab`  and  `make test`.
# Both create a local virtual environment (.venv) on first use and reinstall only when
# pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# the `site` extra (Sphinx ...): `make site` and `make test` (tests/test_site.py) install it
SITE_STAMP := $(VENV)/.site-stamp
export PATH := $(abspath $(VENV))/bin:$(PATH)

# make run NB="notebooks/03*" SMOKE=1 DEVICE=cpu DATA=~/data JOBS=2
NB     ?=
DEVICE ?=
DATA   ?=
SMOKE  ?=
JOBS   ?= 2
RUN_FLAGS = $(if $(SMOKE),--smoke) $(if $(DEVICE),--device $(DEVICE)) $(if $(DATA),--data-dir $(DATA)) --jobs $(JOBS)
# make smoke: every lesson and every assignment solution (stand-in data where the real is missing)
SMOKE_NB  = notebooks/[0-9][0-9]_*.ipynb solutions

.PHONY: help install lab test test-fast run smoke site doctor data strip lint colab-links clean

help:
	@echo "make lab          open JupyterLab on notebooks/ (installs on first use)"
	@echo "make test         run the whole test suite (installs on first use)"
	@echo "make test-fast    the suite without notebook runs and slow tests"
	@echo "make run          execute lessons headless: NB=..., SMOKE=1, DEVICE=cpu|cuda, DATA=dir, JOBS=2"
	@echo "make smoke        every lesson and solution in smoke mode, JOBS at a time (works offline)"
	@echo "make site         the course website in build/site/: every lesson with its outputs (build/runs, else smoke runs)"
	@echo "make doctor       versions, device and data cache"
	@echo "make data         download every dataset now"
	@echo "make strip lint   clean notebook outputs / check notebook conventions"
	@echo "make colab-links REPO=owner/name   point Colab badges and install cells at a fork"
	@echo "make assignments  release solutions/ into assignments/ (instructors)"
	@echo "make roster FILE=students.csv / make due A=A1_backprop DATE=...   class list / due date"
	@echo "make autograde A=A1_backprop JOBS=2 [STUDENT=s]   grade submitted/ in parallel (in a sandbox)"
	@echo "make feedback / make grades           feedback HTML / grades CSV and plot"
	@echo "make bench       benchmarks -> bench/results.md and README (ONLY=N, TINY=1)"
	@echo "make gpu-check DATA=dir   on a CUDA machine: lessons 12 and 16 in full, pytest -m gpu, DDP -> bench/results.*"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[lab,test]"
	@touch $(STAMP)

install: $(STAMP)

# The website's tools (Sphinx, MyST-NB, the book theme, offline MathJax), on first use
$(SITE_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[lab,test,site]"
	@touch $(SITE_STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks

test: $(STAMP) $(SITE_STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

test-fast: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n $(JOBS) --dist loadgroup -m "not slow and not notebook" $(PYTEST_ARGS)

run: $(STAMP)
	$(PY) -m course run $(NB) $(RUN_FLAGS)

smoke: $(STAMP)
	$(PY) -m course run $(or $(NB),$(SMOKE_NB)) --smoke --device cpu --jobs $(JOBS) $(if $(DATA),--data-dir $(DATA))

# The website: executed lessons from build/runs/ (make run), smoke runs for the missing ones,
# then Sphinx (site/conf.py) -> build/site/index.html.
site: $(SITE_STAMP)
	$(PY) -m course site --jobs $(JOBS) $(if $(DATA),--data-dir $(DATA))

doctor: $(STAMP)
	$(PY) -m course doctor

data: $(STAMP)
	$(PY) -m course data download

strip: $(STAMP)
	$(PY) -m course strip

lint: $(STAMP)
	$(PY) -m course lint

colab-links: $(STAMP)
	@test -n "$(REPO)" || (echo "usage: make colab-links REPO=owner/name" && exit 2)
	$(PY) -m course colab-links --repo $(REPO)

clean:
	rm -rf build .pytest_cache

# Benchmarks (bench/run.py): make bench  |  make bench ONLY=3  |  make bench ONLY=3 TINY=1 (plumbing check)
# Full runs write bench/results.md + results.json and README.md's performance block.
ONLY ?=
TINY ?=
.PHONY: bench gpu-check
bench: $(STAMP)
	MPLBACKEND=Agg $(PY) bench/run.py $(if $(ONLY),--only $(ONLY)) $(if $(TINY),--tiny) $(if $(DATA),--data-dir $(DATA))

# One command for a CUDA machine (bench/run.py figure 6, a few minutes given the data): lesson 12 in
# full (seconds to 99%), lesson 16's fast ResNet in full (accuracy with and without flip averaging,
# seconds), `pytest -m gpu`, and the DDP script with torchrun on every GPU; the numbers and the GPU's
# name go to bench/results.* Without CUDA it says so and records "not measured (no GPU)".
gpu-check: $(STAMP)
	MPLBACKEND=Agg $(PY) bench/run.py --only 6 $(if $(TINY),--tiny) $(if $(DATA),--data-dir $(DATA))

# Instructors: nbgrader assignments (README "For instructors"; nbgrader_config.py holds the settings)
#   make assignments [A=A1_backprop]          solutions/ -> assignments/ (student versions; commit them)
#   make roster FILE=students.csv             the class list (unknown submission folders are reported)
#   make due A=A1_backprop DATE="..."         a due date (late work: -10% per started day)
#   make autograde [A=A1_backprop] [JOBS=2] [STUDENT=s]   grade submitted/<student>/<A>/ (JOBS=1: plain nbgrader)
#   make feedback [A=...]                     feedback/<student>/<A>/*.html, without hidden tests
#   make grades                               build/grades/grades.csv + score_distribution.png
#   make grading-kernel                       install the limited grading kernel into .venv (optional)
A ?=
STUDENT ?=
FILE ?=
DATE ?=
.PHONY: assignments autograde feedback grades grading-kernel roster due
assignments: $(STAMP)
	$(PY) -m course release $(A)

autograde: $(STAMP)
	$(PY) -m course autograde $(A) --jobs $(JOBS) $(if $(STUDENT),--student $(STUDENT))

roster: $(STAMP)
	@test -n "$(FILE)" || (echo "usage: make roster FILE=students.csv  (columns: id[,first_name,last_name,email])" && exit 2)
	$(PY) -m course roster $(FILE)

due: $(STAMP)
	@test -n "$(A)" -a -n "$(DATE)" || (echo 'usage: make due A=A1_backprop DATE="2026-12-24 23:59 UTC"' && exit 2)
	$(PY) -m course due $(A) "$(DATE)"

feedback: $(STAMP)
	$(PY) -m course feedback $(A)

grades: $(STAMP)
	MPLBACKEND=Agg $(PY) -m course grades

grading-kernel: $(STAMP)
	$(PY) -m course kernel install --sys-prefix
