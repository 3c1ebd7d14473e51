"""FAME pseudo-human masks: the algorithm (fame.py) and the caching stage (extract.py)."""
