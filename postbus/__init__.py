"""postbus: a complete, self-hosted e-mail service."""

__version__ = "0.1.0"
