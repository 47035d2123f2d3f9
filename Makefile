# Two commands are all a learner needs:  `make lab`  and  `make test`.
# Both create a local virtual environment (.venv) on first use and reinstall only when
# pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export PATH := $(abspath $(VENV))/bin:$(PATH)

# make run NB="notebooks/03*" SMOKE=1 DEVICE=cpu DATA=~/data
NB     ?=
DEVICE ?=
DATA   ?=
SMOKE  ?=
JOBS   ?= 2
RUN_FLAGS = $(if $(SMOKE),--smoke) $(if $(DEVICE),--device $(DEVICE)) $(if $(DATA),--data-dir $(DATA))

.PHONY: help install lab test test-fast run smoke doctor data strip lint colab-links clean

help:
	@echo "make lab          open JupyterLab on notebooks/ (installs on first use)"
	@echo "make test         run the whole test suite (installs on first use)"
	@echo "make run          execute lessons headless: NB=..., SMOKE=1, DEVICE=cpu|cuda, DATA=dir"
	@echo "make smoke        every lesson in smoke mode (seconds each)"
	@echo "make doctor       versions, device and data cache"
	@echo "make data         download every dataset now"
	@echo "make strip lint   clean notebook outputs / check notebook conventions"
	@echo "make colab-links REPO=owner/name   point Colab badges and install cells at a fork"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[lab,test]"
	@touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks

test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

test-fast: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -n $(JOBS) -m "not notebook" $(PYTEST_ARGS)

run: $(STAMP)
	$(PY) -m course run $(NB) $(RUN_FLAGS)

smoke: $(STAMP)
	$(PY) -m course run $(NB) --smoke --device cpu $(if $(DATA),--data-dir $(DATA))

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
