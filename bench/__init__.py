"""Platform-scale benchmarks: a dataset generator, the IMWG throughput and per-page query counts."""
