"""Procurify connector for Nexla-style data-integration hosts.

A host loads it by entry point (``nexla.connectors``: ``procurify``) and drives the hooks in
``nexla_procurify.hookspecs``; the names below are what a host may want to catch or check.
The version is written once, in ``connector.json`` (hosts read it there; the build and
``__version__`` read it from there too).
"""

__all__ = [
    "ApiError",
    "AuthenticationError",
    "Checkpoint",
    "ConfigurationError",
    "ConnectionFailedError",
    "CredentialError",
    "FieldError",
    "PermissionDeniedError",
    "ProcurifyError",
    "ProcurifySession",
    "RateLimitError",
    "Record",
    "SchemaMessage",
    "TransientError",
    "ValidationResult",
    "WriteResult",
    "__version__",
]

from nexla_procurify.manifest import load_json

__version__: str = load_json("connector.json")["version"]

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    CredentialError,
    PermissionDeniedError,
    ProcurifyError,
    RateLimitError,
    TransientError,
)
from nexla_procurify.messages import (
    Checkpoint,
    FieldError,
    Record,
    SchemaMessage,
    ValidationResult,
    WriteResult,
)
