"""devias-tk: the DEVIAS method (disentangled action and scene video representations) as a toolkit."""

__version__ = "0.1.0"
