"""Configuration: YAML files in one directory → a validated, frozen `aggregator.domain.Config`."""

from aggregator.config.loader import check_config, load_config, summary

__all__ = ["check_config", "load_config", "summary"]
