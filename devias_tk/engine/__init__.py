"""The run machinery every trainer shares (`train`, `pretrain`, `scenes train`, `scenes train --video`): recipe,
runtime, loop, checkpoint, optim, sampler, distributed, faults, trackers. No method lives here: what DEVIAS and
its baselines compute is in devias_tk.train."""
