"""Scene model (an image classifier inflated to video) and the cached pseudo scene label stage.

Modules: `preprocess` (the eval-time resize + centre crop, torch-free), `inflate` (frame-average
inflation as pure functions), `model` (building, saving and loading scene models), `images` and
`train` (training on a Places365-style image list), `video_config`, `mix` and `video_train` (the paper's
video scene model: a video ViT on static clips, `scenes train --video`), `export` (its DEVIAS teacher layout),
`decode` (the labelling stage's worker task, torch-free), `label` (the stage), `evaluate` (reading the store:
top-5, accuracy against true scenes).
"""
