"""`./dev bench --compare`: devhost beside Restate and DBOS on the same workloads, in
interleaved rounds, one table of medians. Run with `python -m benchmarks.compare`."""
