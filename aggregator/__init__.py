"""Moscow district news feed aggregator."""
