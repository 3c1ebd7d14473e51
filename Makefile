# devias-tk. The two commands a new user needs, each installing what it needs on a fresh machine:
#   make demo   - the main job on the embedded synthetic benchmark
#   make test   - the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# torch/torchvision come from this machine's local wheel store; set TORCH_PINS= to keep an installed torch.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
DATA ?= data/synthetic
PRESET ?= default
SEED ?= 0
JOBS ?= 0

.PHONY: install test lint demo synth

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(strip $(TORCH_PINS)),$(BIN)/pip install -q $(TORCH_PINS))
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

test: $(INSTALLED)
	$(BIN)/pytest -q

lint: $(INSTALLED)
	$(BIN)/ruff check .

# The embedded benchmark; generation resumes if interrupted and is skipped once meta.json exists.
$(DATA)/meta.json: | $(INSTALLED)
	$(BIN)/devias-tk data synth $(DATA) --preset $(PRESET) --seed $(SEED) -j $(JOBS)

synth: $(DATA)/meta.json

demo: $(DATA)/meta.json
	$(BIN)/devias-tk data inspect $(DATA) -j $(JOBS)
	$(BIN)/devias-tk data bias $(DATA) -j $(JOBS)
