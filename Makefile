# devias-tk. The two commands a new user needs, each installing what it needs on a fresh machine:
#   make demo   - the main job on the embedded synthetic benchmark (generate, masks, scene model and
#                 labels, train five methods and the unbiased ceiling, evaluate, k-NN, compare)
#   make test   - the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# torch/torchvision come from this machine's local wheel store; set TORCH_PINS= to keep an installed torch.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# BENCH: the benchmark family the demo runs on, a `data synth` preset (default: the figures family; critters: the
# second, independently designed family); each has its own data, caches and runs
BENCH ?= default
ifeq ($(BENCH),default)
DATA ?= data/synthetic
CACHE ?= data/cache
DEMO ?= runs/demo
else
DATA ?= data/$(BENCH)
CACHE ?= data/cache-$(BENCH)
DEMO ?= runs/demo-$(BENCH)
endif
PRESET ?= $(BENCH)
SEED ?= 0
JOBS ?= 0
SEEDS ?= 0
DTK := $(BIN)/devias-tk

.PHONY: install test lint demo demo-runs demo-ablations synth demo-caches demo-train demo-eval demo-ceiling

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

# the windows of pipelines/synthetic.yaml (data.frames, data.stride)
DEMO_WINDOW := --window 8 --stride 8
# crops of at least 0.75 of the side: the recipe's random crops keep 35-100% of the area (data.scale)
DEMO_CROPS := 1:1,0.75:2

# The demo mixes with FAME's blurred motion map alone (--motion-only): its actors cover a fifth of a textured,
# shaking frame, where FAME's colour model spreads the mask over the scene (docs/measured.md#mask-quality).
# masks-train.zarr holds the paper's FAME (colour model) masks, for the ablation that uses them.
$(CACHE)/masks-motion-train.done: $(DATA)/meta.json
	$(DTK) masks extract --root $(DATA) --list $(DATA)/lists/train.txt --out $(CACHE)/masks-motion-train.zarr \
	  $(DEMO_WINDOW) --motion-only -j $(JOBS)
	touch $@

$(CACHE)/masks-train.done: $(DATA)/meta.json
	$(DTK) masks extract --root $(DATA) --list $(DATA)/lists/train.txt --out $(CACHE)/masks-train.zarr $(DEMO_WINDOW) -j $(JOBS)
	touch $@

$(CACHE)/scene_model.pt: $(DATA)/meta.json
	$(DTK) scenes train --root $(DATA)/scene_images --list $(DATA)/scene_images/train.txt \
	  --val-list $(DATA)/scene_images/val.txt --classes $(DATA)/scenes.txt --out $@ \
	  --epochs 6 --warmup-epochs 1 --size 64 -j $(JOBS)  # 64 px: 99.5% validation top-1, 5x cheaper than 112

$(CACHE)/scenes-train.done: $(CACHE)/scene_model.pt
	$(DTK) scenes label --root $(DATA) --list $(DATA)/lists/train.txt --model $< --out $(CACHE)/scenes-train.zarr $(DEMO_WINDOW) \
	  --crops $(DEMO_CROPS) -j $(JOBS)
	touch $@

demo-caches: $(CACHE)/masks-motion-train.done $(CACHE)/scenes-train.done

# method name -> overrides of pipelines/synthetic.yaml
OVR_naive-action := model.method=naive-action aug.mix=none
OVR_naive-action-be := model.method=naive-action aug.mix=be
OVR_two-token := model.method=two-token aug.mix=none
OVR_two-token-fame := model.method=two-token aug.mix=fame
OVR_devias := model.method=devias aug.mix=fame
METHODS ?= naive-action naive-action-be two-token two-token-fame devias
RUNS := $(foreach m,$(METHODS),$(foreach s,$(SEEDS),$(DEMO)/$(m)-s$(s)))
TRAIN_COMMON = data.root=$(DATA) data.mask_store=$(CACHE)/masks-motion-train.zarr data.scene_source=store \
  data.scene_store=$(CACHE)/scenes-train.zarr
# k-NN (the paper's Table 1): fitted on the training list, queried on hat-random, where action and scene
# are drawn independently (on the 95%-correlated seen test list a scene feature would name the action).
KNN_LISTS = --root $(DATA) --train-list $(DATA)/lists/train.txt --test-list $(DATA)/lists/hat-random.txt

$(DEMO)/%/train.done: $(CACHE)/masks-motion-train.done $(CACHE)/scenes-train.done
	$(DTK) train --recipe pipelines/synthetic.yaml --out $(DEMO)/$* $(TRAIN_COMMON) $(TRAIN_THREADS) \
	  $(OVR_$(firstword $(subst -s, ,$*))) run.seed=$(lastword $(subst -s, ,$*)) $(DEMO_OPTS)
	touch $@

$(DEMO)/%/eval.done: $(DEMO)/%/train.done
	DEVIAS_SYNTH_ROOT=$(DATA) $(DTK) eval --run $(DEMO)/$* --suite pipelines/eval/synthetic.yaml
	$(if $(filter naive-action% ceiling%,$*),,$(DTK) eval knn --run $(DEMO)/$* $(KNN_LISTS) --json $(DEMO)/$*/eval/knn.json)
	touch $@

# The learnability ceiling: Naive Action with the demo's model and budget on the benchmark's unbiased twin
# (same generator and seed, scenes drawn independently of actions), evaluated on the same suite.
UNBIASED ?= $(DATA)-unbiased
CEILING := $(foreach s,$(SEEDS),$(DEMO)/ceiling-s$(s))

$(UNBIASED)/meta.json: | $(INSTALLED)
	$(DTK) data synth $(UNBIASED) --preset $(PRESET) --seed $(SEED) --unbiased -j $(JOBS)

$(DEMO)/ceiling-s%/train.done: $(UNBIASED)/meta.json
	$(DTK) train --recipe pipelines/synthetic.yaml --out $(DEMO)/ceiling-s$* data.root=$(UNBIASED) \
	  data.scene_source=list data.mask_store=null data.scene_store=null $(OVR_naive-action) run.seed=$* $(TRAIN_THREADS) \
	  "run.name=Naive Action, unbiased twin (ceiling)" $(DEMO_OPTS)
	touch $@

demo-ceiling: $(addsuffix /eval.done,$(CEILING))
	$(DTK) eval compare $(CEILING) --suite synthetic

# DEVIAS ablations on the demo (the issue's "what shows why"): the DEVIAS command plus one change each, per seed.
# abl-<name>-s<seed>; initnaive starts from the seed's Naive Action run, as UCF-101 does (supp. B); famemasks mixes
# with the paper's FAME masks, gtmasks with the benchmark's true actor masks (an upper bound for the masks);
# scene1 and paug04 put back the paper's scene weight and UCF-101's mixing share.
ABL_noamd := model.use_amd=false "run.name=DEVIAS w/o AMD"
ABL_noguide := loss.lambda_guide=0 "run.name=DEVIAS w/o guidance"
ABL_nocos := loss.lambda_cos=0 "run.name=DEVIAS w/o cosine"
ABL_beta03 := aug.beta=0.3 "run.name=DEVIAS, beta 0.3"
ABL_paug04 := aug.p_aug=0.4 "run.name=DEVIAS, p_aug 0.4 (UCF-101's)"
ABL_scene1 := loss.lambda_scene=1 "run.name=DEVIAS, scene weight 1 (the paper's)"
ABL_famemasks = data.mask_store=$(CACHE)/masks-train.zarr "run.name=DEVIAS, FAME's colour-model masks"
ABL_gtmasks = data.mask_store=$(CACHE)/masks-gt.zarr "run.name=DEVIAS, GT masks"
ABL_initnaive = run.init=$(DEMO)/naive-action-s$(1)/checkpoints/last.pt "run.name=DEVIAS from Naive Action"
ABLATIONS ?= noamd noguide nocos beta03 paug04 scene1 famemasks gtmasks initnaive
ABL_RUNS := $(foreach a,$(ABLATIONS),$(foreach s,$(SEEDS),$(DEMO)/abl-$(a)-s$(s)))
ABL_NEEDS_initnaive = $(DEMO)/naive-action-s$(1)/train.done
ABL_NEEDS_gtmasks = $(CACHE)/masks-gt.done
ABL_NEEDS_famemasks = $(CACHE)/masks-train.done

$(CACHE)/masks-gt.done: $(DATA)/meta.json
	$(DTK) masks import-gt --root $(DATA) --list $(DATA)/lists/train.txt --out $(CACHE)/masks-gt.zarr $(DEMO_WINDOW)
	touch $@

.SECONDEXPANSION:
$(DEMO)/abl-%/train.done: $(CACHE)/masks-motion-train.done $(CACHE)/scenes-train.done \
  $$(call ABL_NEEDS_$$(firstword $$(subst -s, ,$$*)),$$(lastword $$(subst -s, ,$$*)))
	$(DTK) train --recipe pipelines/synthetic.yaml --out $(DEMO)/abl-$* $(TRAIN_COMMON) $(TRAIN_THREADS) \
	  $(OVR_devias) run.seed=$(lastword $(subst -s, ,$*)) \
	  $(call ABL_$(firstword $(subst -s, ,$*)),$(lastword $(subst -s, ,$*))) $(DEMO_OPTS)
	touch $@

demo-ablations: | $(INSTALLED)
	$(if $(filter 1,$(DEMO_PARALLEL)),$(MAKE) --no-print-directory $(addsuffix /eval.done,$(ABL_RUNS)),\
	  OMP_NUM_THREADS=$(SHARE) $(MAKE) --no-print-directory -j$(DEMO_PARALLEL) --output-sync=target \
	  $(addsuffix /eval.done,$(ABL_RUNS)) JOBS=$(SHARE) TRAIN_THREADS="run.threads=$(SHARE) data.num_workers=$(SHARE)")
	$(DTK) eval compare $(foreach s,$(SEEDS),$(DEMO)/devias-s$(s)) $(ABL_RUNS) --suite synthetic \
	  --out $(DEMO)/ablations.md

demo-train: $(addsuffix /train.done,$(RUNS))
demo-eval: $(addsuffix /eval.done,$(RUNS))

# make demo runs the independent stages (the two caches, the trainings, the evaluations) DEMO_PARALLEL at a time,
# each on its share of the cores: on 2 cores two single-threaded trainings side by side finish sooner than
# two-threaded ones in turn (docs/measured.md#make-demo). DEMO_PARALLEL=1: one at a time, the recipe's threads.
CORES := $(shell nproc 2>/dev/null || echo 2)
DEMO_PARALLEL ?= 2
SHARE = $(shell echo $$(( $(CORES) / $(DEMO_PARALLEL) > 0 ? $(CORES) / $(DEMO_PARALLEL) : 1 )))
TRAIN_THREADS ?=
# extra recipe overrides for every demo training, e.g. DEMO_OPTS=run.amp=off (fp32, what a CPU without bf16 runs)
# with DEMO=runs/demo-fp32 to keep those runs apart
DEMO_OPTS ?=
demo-runs: $(addsuffix /eval.done,$(CEILING) $(RUNS))

demo: | $(INSTALLED)
	$(if $(filter 1,$(DEMO_PARALLEL)),$(MAKE) --no-print-directory demo-runs,OMP_NUM_THREADS=$(SHARE) $(MAKE) \
	  --no-print-directory -j$(DEMO_PARALLEL) --output-sync=target demo-runs JOBS=$(SHARE) \
	  TRAIN_THREADS="run.threads=$(SHARE) data.num_workers=$(SHARE)")
	$(DTK) eval compare $(CEILING) $(RUNS) --suite synthetic --out $(DEMO)/comparison.md
	@echo "reports: $(DEMO)/<method>-s<seed>/eval/synthetic/report.md (figures beside them); table: $(DEMO)/comparison.md"

# ---------------------------------------------------------------- real datasets
# make ucf101-all UCF101_ROOT=/data/UCF101 SCENE_MODEL=/ckpt/scene.pt [VIDEOMAE_CKPT=/ckpt/videomae_ucf101.pth] \
#      [SCENE_CLASSES=categories_places365.txt] [SCUBA_ROOT=/data/SCUBA] [HAT_ROOT=/data/HAT/ucf101] [GPUS=8]
# Chain: lists -> check -> masks (train list) -> scene labels (train, test, the HAT lists the suites score) ->
# VideoMAE pre-training when no VIDEOMAE_CKPT -> training (torchrun when GPUS > 1) -> evaluation -> comparison.
# Each step leaves a stamp in WORK and is skipped once done; each step resumes by itself.
# UCF-101 trains twice, as the paper does (supp. B): Naive Action from the VideoMAE checkpoint
# (pipelines/ucf101-naive-action.yaml, WORK/naive-action), then DEVIAS from its last.pt (WORK/run); both are
# evaluated on the Table 2 and Table 7 suites and compared in WORK/<suite>.md.
# To try a chain small before running it for real, every step takes overrides (docs/datasets.md); `make
# smoke-chains` runs all three chains that way on the embedded benchmark laid out as the official downloads.
GPUS ?= 1
SPLIT ?= 1
VIDEOMAE_CKPT ?=
SCENE_MODEL ?=
SCENE_CLASSES ?=
SCUBA_ROOT ?=
HAT_ROOT ?=
SCUBA_SOURCES ?= places365 vqgan sinusoid
HAT_SPLITS ?= 1# Action-Swap splits scene-labelled for the suites (they score split 1)
GRID_OPTS ?=# the caches' window grid (--window/--stride/--hop), matching the recipes' data.frames/stride/hop
MASK_OPTS ?=# more `masks extract` options
SCENE_LABEL_OPTS ?=# more `scenes label` options
PRETRAIN_OPTS ?=# overrides of the pre-training recipe, e.g. optim.epochs=800
NAIVE_OPTS ?=# overrides of the Naive Action recipe (UCF-101's first training)
TRAIN_OPTS ?=# overrides of the DEVIAS recipe
EVAL_OPTS ?=# more `eval` options, e.g. --batch 32
NEED_VENV ?= $(INSTALLED)# the chains' order-only prerequisite (empty: use the devias-tk under VENV as it is)
TORCHRUN := $(BIN)/python -m torch.distributed.run --standalone --nproc_per_node=$(GPUS) -m devias_tk
LAUNCH = $(if $(filter 1,$(GPUS)),$(DTK),$(TORCHRUN))
SCENE_OPTS = --model $(SCENE_MODEL) $(if $(SCENE_CLASSES),--classes $(SCENE_CLASSES)) -j $(JOBS) $(GRID_OPTS) \
  $(SCENE_LABEL_OPTS)
# the paper's scene target: the scene model on each mixed, augmented training clip (supp. B); the stores stay
# for evaluation and validation (data.scene_source=store: the cached labels, for a chain without a GPU)
ONLINE_SCENES = data.scene_model=$(abspath $(SCENE_MODEL))
# Without VIDEOMAE_CKPT, a chain that has a pre-training rule (UCF-101, Kinetics-400) starts from its own
# `devias-tk pretrain` run (PRETRAIN_RUN, set per chain below); HVU trains from scratch.
INIT = $(if $(VIDEOMAE_CKPT),run.init=$(abspath $(VIDEOMAE_CKPT)),$(if $(PRETRAIN_RUN),run.init=$(abspath $(PRETRAIN_RUN))/checkpoints/last.pt))
HAT_LABELLED = hat-scene-only $(foreach k,rand close far,$(foreach i,$(HAT_SPLITS),hat-$(k)-$(i)))

# $(call unseen_lists,WORK,ACTIONS): SCUBA and HAT lists beside an action dataset, when their roots are given
define unseen_lists
	$(if $(SCUBA_ROOT),$(DTK) data lists scuba --root $(SCUBA_ROOT) --out $(1)/scuba --actions $(2) \
	  $(foreach s,$(SCUBA_SOURCES),--source $(s)))
	$(if $(HAT_ROOT),$(DTK) data lists hat --root $(HAT_ROOT) --out $(1)/hat)
endef

# $(call label_all,WORK,ROOT,TRAIN,TEST): scene labels of the train list (with the crop grid training reads) and,
# for evaluation only (--crops none), of the test list and the HAT lists the suites score (SCUBA's are scored on
# actions alone); one process per root, the model loaded once
define label_all
	$(DTK) scenes label --root $(2) --list $(1)/lists/$(3).txt --out $(1)/caches/scenes-$(3).zarr $(SCENE_OPTS)
	$(DTK) scenes label --root $(2) --list $(1)/lists/$(4).txt --out $(1)/caches/scenes-$(4).zarr $(SCENE_OPTS) \
	  --crops none
	$(if $(HAT_ROOT),$(DTK) scenes label --root $(HAT_ROOT) $(foreach l,$(HAT_LABELLED),--list $(1)/hat/lists/$(l).txt) \
	  --out '$(1)/caches/scenes-{list}.zarr' $(SCENE_OPTS) --crops none)
endef

UCF101_ROOT ?= data/ucf101
UCF_WORK ?= work/ucf101
UCF_TRAIN := trainlist0$(SPLIT)
UCF_TEST := testlist0$(SPLIT)
UCF_ENV = WORK=$(abspath $(UCF_WORK)) UCF101_ROOT=$(abspath $(UCF101_ROOT)) \
  SCUBA_ROOT=$(abspath $(or $(SCUBA_ROOT),.)) HAT_ROOT=$(abspath $(or $(HAT_ROOT),.))

$(UCF_WORK)/lists.done: | $(NEED_VENV)
	$(DTK) data lists ucf101 --root $(UCF101_ROOT) --split $(SPLIT) --out $(UCF_WORK)
	$(call unseen_lists,$(UCF_WORK),$(UCF_WORK)/actions.txt)
	touch $@
$(UCF_WORK)/check.done: $(UCF_WORK)/lists.done
	$(DTK) data check --root $(UCF101_ROOT) --list $(UCF_WORK)/lists/$(UCF_TRAIN).txt \
	  --list $(UCF_WORK)/lists/$(UCF_TEST).txt --actions $(UCF_WORK)/actions.txt -j $(JOBS)
	touch $@
$(UCF_WORK)/masks.done: $(UCF_WORK)/check.done
	$(DTK) masks extract --root $(UCF101_ROOT) --list $(UCF_WORK)/lists/$(UCF_TRAIN).txt \
	  --out $(UCF_WORK)/caches/masks-$(UCF_TRAIN).zarr -j $(JOBS) $(GRID_OPTS) $(MASK_OPTS)
	touch $@
$(UCF_WORK)/scenes.done: $(UCF_WORK)/check.done
	$(call label_all,$(UCF_WORK),$(UCF101_ROOT),$(UCF_TRAIN),$(UCF_TEST))
	touch $@
UCF_LISTS = data.root=$(UCF101_ROOT) data.train_list=$(abspath $(UCF_WORK))/lists/$(UCF_TRAIN).txt \
  data.actions=$(abspath $(UCF_WORK))/actions.txt
UCF_SUITES ?= ucf101-table2 ucf101-table7
$(UCF_WORK)/naive.done: $(UCF_WORK)/check.done
	$(LAUNCH) train --recipe pipelines/ucf101-naive-action.yaml --out $(UCF_WORK)/naive-action $(UCF_LISTS) $(INIT) \
	  $(NAIVE_OPTS)
	touch $@
$(UCF_WORK)/train.done: $(UCF_WORK)/masks.done $(UCF_WORK)/scenes.done $(UCF_WORK)/naive.done
	$(LAUNCH) train --recipe pipelines/ucf101.yaml --out $(UCF_WORK)/run $(UCF_LISTS) $(ONLINE_SCENES) \
	  data.mask_store=$(UCF_WORK)/caches/masks-$(UCF_TRAIN).zarr data.scene_store=$(UCF_WORK)/caches/scenes-$(UCF_TRAIN).zarr \
	  run.init=$(abspath $(UCF_WORK))/naive-action/checkpoints/last.pt $(TRAIN_OPTS)
	touch $@
$(UCF_WORK)/eval.done: $(UCF_WORK)/train.done
	for r in naive-action run; do $(UCF_ENV) $(DTK) eval --run $(UCF_WORK)/$$r \
	  $(foreach s,$(UCF_SUITES),--suite pipelines/eval/$(s).yaml) $(EVAL_OPTS) || exit 1; done
	for s in $(UCF_SUITES); do \
	  $(DTK) eval compare $(UCF_WORK)/naive-action $(UCF_WORK)/run --suite $$s --out $(UCF_WORK)/$$s.md || exit 1; done
	touch $@
ucf101-all: $(UCF_WORK)/eval.done

# VideoMAE pre-training on the train list when no VIDEOMAE_CKPT is given (pipelines/pretrain-ucf101.yaml)
$(UCF_WORK)/pretrain.done: $(UCF_WORK)/check.done
	$(LAUNCH) pretrain --recipe pipelines/pretrain-ucf101.yaml --out $(UCF_WORK)/pretrain data.root=$(UCF101_ROOT) \
	  data.train_list=$(abspath $(UCF_WORK))/lists/$(UCF_TRAIN).txt $(PRETRAIN_OPTS)
	touch $@
$(UCF_WORK)/naive.done: $(if $(VIDEOMAE_CKPT),,$(UCF_WORK)/pretrain.done)
$(UCF_WORK)/naive.done: PRETRAIN_RUN = $(UCF_WORK)/pretrain

# make kinetics400-all K400_ROOT=/data/k400 K400_VIDEOS=videos SCENE_MODEL=... [VIDEOMAE_CKPT=...] [GPUS=8] [SCUBA_ROOT=...] [HAT_ROOT=...]
K400_ROOT ?= data/kinetics400
K400_VIDEOS ?= videos
K400_WORK ?= work/kinetics400
K400_ENV = WORK=$(abspath $(K400_WORK)) K400_ROOT=$(abspath $(K400_ROOT)) \
  SCUBA_ROOT=$(abspath $(or $(SCUBA_ROOT),.)) HAT_ROOT=$(abspath $(or $(HAT_ROOT),.))

$(K400_WORK)/lists.done: | $(NEED_VENV)
	$(DTK) data lists kinetics400 --root $(K400_ROOT) --videos $(K400_VIDEOS) --csv $(K400_ROOT)/annotations/train.csv \
	  --csv $(K400_ROOT)/annotations/val.csv --out $(K400_WORK)
	$(call unseen_lists,$(K400_WORK),$(K400_WORK)/actions.txt)
	touch $@
$(K400_WORK)/check.done: $(K400_WORK)/lists.done
	$(DTK) data check --root $(K400_ROOT) --list $(K400_WORK)/lists/train.txt --list $(K400_WORK)/lists/val.txt \
	  --actions $(K400_WORK)/actions.txt -j $(JOBS)
	touch $@
$(K400_WORK)/masks.done: $(K400_WORK)/check.done
	$(DTK) masks extract --root $(K400_ROOT) --list $(K400_WORK)/lists/train.txt --out $(K400_WORK)/caches/masks-train.zarr \
	  -j $(JOBS) $(GRID_OPTS) $(MASK_OPTS)
	touch $@
$(K400_WORK)/scenes.done: $(K400_WORK)/check.done
	$(call label_all,$(K400_WORK),$(K400_ROOT),train,val)
	touch $@
$(K400_WORK)/train.done: $(K400_WORK)/masks.done $(K400_WORK)/scenes.done
	$(LAUNCH) train --recipe pipelines/kinetics400.yaml --out $(K400_WORK)/run data.root=$(K400_ROOT) \
	  data.train_list=$(abspath $(K400_WORK))/lists/train.txt data.actions=$(abspath $(K400_WORK))/actions.txt \
	  data.mask_store=$(K400_WORK)/caches/masks-train.zarr data.scene_store=$(K400_WORK)/caches/scenes-train.zarr \
	  $(ONLINE_SCENES) $(INIT) $(TRAIN_OPTS)
	touch $@
K400_SUITES ?= kinetics400-table3 kinetics400-table8
$(K400_WORK)/eval.done: $(K400_WORK)/train.done
	$(K400_ENV) $(DTK) eval --run $(K400_WORK)/run $(foreach s,$(K400_SUITES),--suite pipelines/eval/$(s).yaml) $(EVAL_OPTS)
	for s in $(K400_SUITES); do $(DTK) eval compare $(K400_WORK)/run --suite $$s --out $(K400_WORK)/$$s.md || exit 1; done
	touch $@
kinetics400-all: $(K400_WORK)/eval.done

# VideoMAE pre-training on the train list when no VIDEOMAE_CKPT is given (pipelines/pretrain-kinetics400.yaml)
$(K400_WORK)/pretrain.done: $(K400_WORK)/check.done
	$(LAUNCH) pretrain --recipe pipelines/pretrain-kinetics400.yaml --out $(K400_WORK)/pretrain data.root=$(K400_ROOT) \
	  data.train_list=$(abspath $(K400_WORK))/lists/train.txt $(PRETRAIN_OPTS)
	touch $@
$(K400_WORK)/train.done: $(if $(VIDEOMAE_CKPT),,$(K400_WORK)/pretrain.done)
$(K400_WORK)/train.done: PRETRAIN_RUN = $(K400_WORK)/pretrain

# make hvu-all HVU_ROOT=/data/hvu [HVU_VIDEOS=videos] [VIDEOMAE_CKPT=...] [GPUS=8]
# From HVU's own files: HVU_Train_V1.0.csv, HVU_Val_V1.0.csv and HVU_Tags_Categories_V1.0.csv under HVU_ROOT. Clips
# with one action and one scene tag are kept (real scene labels: no scene model); the validation clips are split
# into seen and unseen action-scene combinations by whether the pair occurs in training (the paper's definition).
# With the paper's subset lists instead ('<clip> <action> <scene>', indices in the categories file's order):
# HVU_TRAIN_LIST=... HVU_SEEN_LIST=... HVU_UNSEEN_LIST=...
HVU_ROOT ?= data/hvu
HVU_VIDEOS ?= videos
HVU_WORK ?= work/hvu
HVU_CATEGORIES ?= $(HVU_ROOT)/HVU_Tags_Categories_V1.0.csv
HVU_TRAIN_CSV ?= $(HVU_ROOT)/HVU_Train_V1.0.csv
HVU_VAL_CSV ?= $(HVU_ROOT)/HVU_Val_V1.0.csv
HVU_TRAIN_LIST ?=
HVU_SEEN_LIST ?=
HVU_UNSEEN_LIST ?=
name_of = $(basename $(notdir $(1)))
HVU_TRAIN = $(call name_of,$(or $(HVU_TRAIN_LIST),$(HVU_TRAIN_CSV)))
HVU_SEEN = $(if $(HVU_TRAIN_LIST),$(call name_of,$(HVU_SEEN_LIST)),$(call name_of,$(HVU_VAL_CSV))-seen)
HVU_UNSEEN = $(if $(HVU_TRAIN_LIST),$(call name_of,$(HVU_UNSEEN_LIST)),$(call name_of,$(HVU_VAL_CSV))-unseen)
HVU_SOURCES = $(if $(HVU_TRAIN_LIST),--subset $(HVU_TRAIN_LIST) --subset $(HVU_SEEN_LIST) --subset $(HVU_UNSEEN_LIST),\
  --csv $(HVU_TRAIN_CSV) --csv $(HVU_VAL_CSV) --seen-from $(HVU_TRAIN))
HVU_ENV = WORK=$(abspath $(HVU_WORK)) HVU_ROOT=$(abspath $(HVU_ROOT)) HVU_SEEN=$(HVU_SEEN) HVU_UNSEEN=$(HVU_UNSEEN)

$(HVU_WORK)/lists.done: | $(NEED_VENV)
	$(DTK) data lists hvu --root $(HVU_ROOT) --videos $(HVU_VIDEOS) $(HVU_SOURCES) --categories $(HVU_CATEGORIES) \
	  --out $(HVU_WORK)
	touch $@
$(HVU_WORK)/check.done: $(HVU_WORK)/lists.done
	$(DTK) data check --root $(HVU_ROOT) $(foreach l,$(HVU_TRAIN) $(HVU_SEEN) $(HVU_UNSEEN),--list $(HVU_WORK)/lists/$(l).txt) \
	  --actions $(HVU_WORK)/actions.txt --scenes $(HVU_WORK)/scenes.txt -j $(JOBS)
	touch $@
$(HVU_WORK)/masks.done: $(HVU_WORK)/check.done
	$(DTK) masks extract --root $(HVU_ROOT) --list $(HVU_WORK)/lists/$(HVU_TRAIN).txt \
	  --out $(HVU_WORK)/caches/masks-train.zarr -j $(JOBS) $(GRID_OPTS) $(MASK_OPTS)
	touch $@
$(HVU_WORK)/train.done: $(HVU_WORK)/masks.done
	$(LAUNCH) train --recipe pipelines/hvu.yaml --out $(HVU_WORK)/run data.root=$(HVU_ROOT) \
	  data.train_list=$(abspath $(HVU_WORK))/lists/$(HVU_TRAIN).txt \
	  data.actions=$(abspath $(HVU_WORK))/actions.txt data.scenes=$(abspath $(HVU_WORK))/scenes.txt \
	  data.mask_store=$(HVU_WORK)/caches/masks-train.zarr $(INIT) $(TRAIN_OPTS)
	touch $@
$(HVU_WORK)/eval.done: $(HVU_WORK)/train.done
	$(HVU_ENV) $(DTK) eval --run $(HVU_WORK)/run --suite pipelines/eval/hvu.yaml $(EVAL_OPTS)
	$(DTK) eval compare $(HVU_WORK)/run --suite hvu --out $(HVU_WORK)/hvu.md
	touch $@
hvu-all: $(HVU_WORK)/eval.done

.PHONY: ucf101-all kinetics400-all hvu-all

# ---------------------------------------------------------------- the chains at smoke scale
# make smoke-chains: the three chains above, end to end, on the embedded benchmark (tiny preset) laid out as
# the official downloads (`devias-tk data layout`), with a one-block ViT, 4 x 32 x 32 clips and one epoch per
# training: from nothing to the comparison tables, pre-training included (UCF-101; Kinetics-400 starts from
# its VideoMAE export), HVU under torchrun with two processes. A check of the chains, not of the method.
SMOKE ?= work/smoke
SMOKE_BENCH = $(SMOKE)/bench
SMOKE_DL = $(SMOKE)/official
SMOKE_SCENE_MODEL = $(SMOKE)/scene_model.pt
SMOKE_SHAPE = model.size=tiny model.depth=1 model.embed_dim=32 model.num_heads=2 data.frames=4 data.stride=4 \
  data.hop=4 data.size=32 data.num_workers=0 optim.epochs=1 optim.batch_size=4 optim.warmup_epochs=0 run.threads=1
SMOKE_TRAIN = $(SMOKE_SHAPE) data.rand_augment=null data.val_fraction=0
SMOKE_VARS = GRID_OPTS="--window 4 --stride 4" SCENE_LABEL_OPTS="--crops 1:1,0.75:2" SCENE_MODEL=$(SMOKE_SCENE_MODEL) \
  PRETRAIN_OPTS="$(SMOKE_SHAPE) mae.decoder_depth=1" NAIVE_OPTS="$(SMOKE_TRAIN)" \
  TRAIN_OPTS="$(SMOKE_TRAIN) model.slot_head_dim=16 model.amd_hidden=[16,16]" EVAL_OPTS="-j 0" JOBS=1

$(SMOKE_DL)/.done: | $(NEED_VENV)
	$(DTK) data synth $(SMOKE_BENCH) --preset tiny --seed 0 -j 1
	$(DTK) data layout $(SMOKE_BENCH) $(SMOKE_DL) -j 1
	touch $@
$(SMOKE_SCENE_MODEL): $(SMOKE_DL)/.done
	$(DTK) data lists places365 --root $(SMOKE_DL)/places365 --categories $(SMOKE_DL)/places365/categories_places365.txt \
	  --train-list $(SMOKE_DL)/places365/places365_train_standard.txt --val-list $(SMOKE_DL)/places365/places365_val.txt \
	  --out $(SMOKE_DL)/places365/lists
	$(DTK) scenes train --root $(SMOKE_DL)/places365 --list $(SMOKE_DL)/places365/lists/train.txt \
	  --val-list $(SMOKE_DL)/places365/lists/val.txt --classes $(SMOKE_DL)/places365/lists/scenes.txt --out $@ \
	  --size 32 --epochs 1 --batch 16 -j 1
smoke-ucf101: $(SMOKE_SCENE_MODEL)
	$(MAKE) --no-print-directory ucf101-all UCF101_ROOT=$(SMOKE_DL)/ucf101 UCF_WORK=$(SMOKE)/ucf101 \
	  SCUBA_ROOT=$(SMOKE_DL)/scuba HAT_ROOT=$(SMOKE_DL)/hat $(SMOKE_VARS)
$(SMOKE)/videomae_ucf101.pth: | smoke-ucf101
	$(DTK) pretrain export --run $(SMOKE)/ucf101/pretrain --out $@
smoke-kinetics400: $(SMOKE_SCENE_MODEL) $(SMOKE)/videomae_ucf101.pth
	$(MAKE) --no-print-directory kinetics400-all K400_ROOT=$(SMOKE_DL)/kinetics400 K400_WORK=$(SMOKE)/kinetics400 \
	  SCUBA_ROOT=$(SMOKE_DL)/kinetics400-scuba HAT_ROOT=$(SMOKE_DL)/kinetics400-hat VIDEOMAE_CKPT=$(SMOKE)/videomae_ucf101.pth \
	  $(SMOKE_VARS)
smoke-hvu: $(SMOKE_DL)/.done
	$(MAKE) --no-print-directory hvu-all HVU_ROOT=$(SMOKE_DL)/hvu HVU_WORK=$(SMOKE)/hvu GPUS=2 $(SMOKE_VARS)
smoke-chains: smoke-ucf101 smoke-kinetics400 smoke-hvu
	@echo "smoke chains done: $(SMOKE)/{ucf101,kinetics400,hvu} (comparison tables: $(SMOKE)/*/*.md)"

.PHONY: smoke-chains smoke-ucf101 smoke-kinetics400 smoke-hvu
