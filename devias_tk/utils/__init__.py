"""Small helpers shared by stages: atomic file writes, progress bars, parallel maps."""
