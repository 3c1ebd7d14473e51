"""On-disk caches shared by the stages (Zarr v3 stores of per-video groups)."""
