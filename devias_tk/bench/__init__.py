"""Throughput benchmarks of the stages (`devias-tk bench ...`)."""
