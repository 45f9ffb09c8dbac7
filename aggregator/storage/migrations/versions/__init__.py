"""Migration scripts, a package so that they are installed with the aggregator."""
