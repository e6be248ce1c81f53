"""Speed benchmarks of the inference API (``make bench``); results in bench/results/."""
