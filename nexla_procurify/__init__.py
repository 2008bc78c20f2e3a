"""Procurify connector for Nexla-style data-integration hosts."""

__version__ = "0.1.0"
