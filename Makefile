# devias-tk. The two commands a new user needs, each installing what it needs on a fresh machine:
#   make demo   - the main job on the embedded synthetic benchmark (generate, masks, scene model and
#                 labels, train four methods, evaluate, compare)
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
CACHE ?= data/cache
DEMO ?= runs/demo
SEEDS ?= 0
DTK := $(BIN)/devias-tk

.PHONY: install test lint demo synth demo-caches demo-train demo-eval

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

# ---------------------------------------------------------------- the embedded benchmark demo
# Every stage resumes; a stamp (.done) marks a finished stage so a re-run skips it.

$(DATA)/meta.json: | $(INSTALLED)
	$(DTK) data synth $(DATA) --preset $(PRESET) --seed $(SEED) -j $(JOBS)

synth: $(DATA)/meta.json

$(CACHE)/masks-train.done: $(DATA)/meta.json
	$(DTK) masks extract --root $(DATA) --list $(DATA)/lists/train.txt --out $(CACHE)/masks-train.zarr -j $(JOBS)
	touch $@

$(CACHE)/scene_model.pt: $(DATA)/meta.json
	$(DTK) scenes train --root $(DATA)/scene_images --list $(DATA)/scene_images/train.txt \
	  --val $(DATA)/scene_images/val.txt --classes $(DATA)/scenes.txt --out $@ -j $(JOBS)

$(CACHE)/scenes-train.done: $(CACHE)/scene_model.pt
	$(DTK) scenes label --root $(DATA) --list $(DATA)/lists/train.txt --model $< --out $(CACHE)/scenes-train.zarr -j $(JOBS)
	touch $@

demo-caches: $(CACHE)/masks-train.done $(CACHE)/scenes-train.done

# method name -> overrides of pipelines/synthetic.yaml
OVR_naive-action := model.method=naive-action aug.mix=none
OVR_two-token := model.method=two-token aug.mix=none
OVR_two-token-fame := model.method=two-token aug.mix=fame
OVR_devias := model.method=devias aug.mix=fame
METHODS := naive-action two-token two-token-fame devias
RUNS := $(foreach m,$(METHODS),$(foreach s,$(SEEDS),$(DEMO)/$(m)-s$(s)))
TRAIN_COMMON = data.root=$(DATA) data.mask_store=$(CACHE)/masks-train.zarr data.scene_source=store \
  data.scene_store=$(CACHE)/scenes-train.zarr

$(DEMO)/%/train.done: $(CACHE)/masks-train.done $(CACHE)/scenes-train.done
	$(DTK) train --recipe pipelines/synthetic.yaml --out $(DEMO)/$* $(TRAIN_COMMON) \
	  $(OVR_$(firstword $(subst -s, ,$*))) run.seed=$(lastword $(subst -s, ,$*))
	touch $@

$(DEMO)/%/eval.done: $(DEMO)/%/train.done
	$(DTK) eval --run $(DEMO)/$* --suite pipelines/eval/synthetic.yaml
	touch $@

demo-train: $(addsuffix /train.done,$(RUNS))
demo-eval: $(addsuffix /eval.done,$(RUNS))

demo: $(addsuffix /eval.done,$(RUNS))
	$(DTK) eval compare $(RUNS) --suite synthetic --out $(DEMO)/comparison.md
	@echo "reports: $(DEMO)/<method>-s<seed>/eval/synthetic/report.md (figures beside them); table: $(DEMO)/comparison.md"
