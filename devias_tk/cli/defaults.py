"""Defaults the CLI's option declarations need, kept as literals so that parsing imports no stage module.

Each one mirrors a constant of a heavy module (numpy, OpenCV, ...); tests/test_cli_startup.py checks they agree.
"""

from __future__ import annotations

# devias_tk.synthetic.benchmark.PRESETS, in its order
BENCHMARK_PRESETS: tuple[str, ...] = ("tiny", "default", "ucf-like", "k400-like", "critters", "critters-tiny")
# devias_tk.data.formats.scuba.DEFAULT_LIST
SCUBA_LIST = "testlist01.txt"
# devias_tk.data.crop_grid.DEFAULT_GRID
CROP_GRID = "1:1,0.75:2,0.5:3"
# Seconds one video may take in a worker before the worker is killed and the video reported, in every stage:
# `data check`, `masks extract`, `scenes label` (--timeout), train's and pretrain's data.decode_timeout,
# devias_tk.data.guarded.DEFAULT_TIMEOUT (eval, predict, features)
DECODE_TIMEOUT = 120.0
