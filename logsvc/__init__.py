"""logsvc: run and use a small serverless log service."""

__version__ = "0.1.0"
