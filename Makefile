# The two commands of a fresh machine: `make demo` and `make test`. Each creates or reuses the
# virtual environment (VENV), installs what changed (tools/install_env.py), then runs its job.
VENV ?= .venv
PYTHON3 ?= python3
PYTEST_ARGS ?=
# Where tools/build_mmcv.py looks for an mmcv wheel before compiling one (about 30 minutes):
# the user's cache (set RKD_MMCV_CACHE to add folders of prebuilt wheels in front of it).
RKD_MMCV_CACHE ?= $(HOME)/.cache/rkd/mmcv
export RKD_MMCV_CACHE

.DEFAULT_GOAL := help
.PHONY: help install demo test lint

help:
	@echo 'make install  create or update $(VENV) (skipped when nothing changed)'
	@echo 'make demo     install, then run tools/demo.py'
	@echo 'make test     install, then run the tests (extra pytest options: PYTEST_ARGS=...)'
	@echo 'make lint     install, then flake8 and isort over the code (setup.cfg settings)'
	@echo 'variables: VENV=$(VENV)  RKD_MMCV_CACHE=$(RKD_MMCV_CACHE)'

install:
	$(PYTHON3) tools/install_env.py --venv $(VENV)

demo: install
	$(VENV)/bin/python tools/demo.py

test: install
	$(VENV)/bin/python -m pytest tests $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/python -m flake8 rkd tools tests configs
	$(VENV)/bin/python -m isort --check-only --diff rkd tools tests configs
