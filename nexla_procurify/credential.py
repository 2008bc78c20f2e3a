"""The Procurify credential: its model and its validation (what is accepted, with every problem
named for the field it is in). Its secret and the masking of it are ``secret.py``'s; ``Secret``,
``MASK``, ``redact`` and ``redact_text`` are re-exported here for the callers that know them
from here."""

from __future__ import annotations

__all__ = [
    "ALLOW_LOOPBACK_ENV",
    "MASK",
    "PROCURIFY_DOMAIN",
    "Credential",
    "Secret",
    "credential_schema",
    "loopback_allowed",
    "parse",
    "redact",
    "redact_text",
    "validate",
]

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from nexla_procurify import manifest
from nexla_procurify.errors import CredentialError
from nexla_procurify.messages import FieldError, ValidationResult
from nexla_procurify.secret import MASK, Secret, redact, redact_text, secrets_in

ALLOW_LOOPBACK_ENV = "NEXLA_PROCURIFY_ALLOW_LOOPBACK"
PROCURIFY_DOMAIN = "procurify.com"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
EXAMPLE_BASE_URL = "https://acme.procurify.com"


@dataclass(frozen=True)
class Credential:
    """A checked Procurify credential (``parse`` makes it); its secret never shows itself."""

    name: str
    client_id: str
    client_secret: Secret = field(repr=False)
    base_url: str
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The credential for display: the secret is masked, also where another field
        repeats it (pasted into the wrong one)."""
        data: dict[str, Any] = {
            "name": self.masked(self.name),
            "client_id": self.masked(self.client_id),
            "client_secret": MASK,
            "base_url": self.masked(self.base_url),
        }
        if self.description is not None:
            data["description"] = self.masked(self.description)
        return data

    def masked(self, text: str) -> str:
        """``text`` with this credential's secret masked (for a ``repr`` or a message that
        quotes one of its fields)."""
        return redact_text(text, (self.client_secret,))

    def __repr__(self) -> str:
        fields = ("name", "client_id", "base_url", "description")
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return self.masked(f"Credential({shown})")


def loopback_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the host allowed loopback Base URLs (the sandbox and tests do)."""
    env = os.environ if environ is None else environ
    return env.get(ALLOW_LOOPBACK_ENV, "").strip() == "1"


def credential_schema() -> dict[str, Any]:
    """The shipped credential schema (``schemas/credential.schema.json``)."""
    return manifest.schema("credential.schema.json")


def validate(data: object, *, allow_loopback: bool = False) -> ValidationResult:
    """Check a credential dict; every problem comes back as a field-level message."""
    if not isinstance(data, Mapping):
        return ValidationResult.of([FieldError(None, "The credential must be a JSON object.")])
    schema = credential_schema()
    titles = {key: prop.get("title", key) for key, prop in schema["properties"].items()}
    errors = [
        FieldError(name, f"{titles[name]} is required.")
        for name in schema["required"]
        if name not in data
    ]
    schema_rejects_base_url = False
    for error in Draft202012Validator(schema).iter_errors(dict(data)):
        if error.validator == "required":
            continue  # listed above, one message per missing field
        if error.validator == "pattern" and error.instance == "":
            continue  # "must not be empty" says it already
        if list(error.absolute_path) == ["base_url"] and error.validator in ("pattern", "format"):
            schema_rejects_base_url = True  # base_url_problems() says precisely what is wrong
            continue
        found = _schema_error(error, titles, data)
        if found not in errors:
            errors.append(found)
    base_url = data.get("base_url")
    if isinstance(base_url, str) and base_url:
        problems = base_url_problems(base_url, allow_loopback=allow_loopback)
        sandbox = allow_loopback and _is_loopback_url(base_url)
        if not problems and schema_rejects_base_url and not sandbox:
            problems = [
                f"Base URL must be exactly https://<company>.procurify.com, such as "
                f"{EXAMPLE_BASE_URL}."
            ]
        errors.extend(FieldError("base_url", problem) for problem in problems)
    # A message may quote what was given elsewhere (an unknown field's name, the Base URL's
    # host): when that is the secret misplaced, it is masked.
    secrets = secrets_in(data)
    return ValidationResult.of(
        [FieldError(error.field, redact_text(error.message, secrets)) for error in errors]
    )


def parse(data: object, *, allow_loopback: bool = False) -> Credential:
    """A validated ``Credential``, or ``CredentialError`` with every field problem."""
    result = validate(data, allow_loopback=allow_loopback)
    if not result.ok:
        raise CredentialError([(error.field, error.message) for error in result.errors])
    assert isinstance(data, Mapping)
    description = data.get("description")
    return Credential(
        name=data["name"],
        client_id=data["client_id"],
        client_secret=Secret(data["client_secret"]),
        base_url=data["base_url"],
        description=description if isinstance(description, str) else None,
    )


def _schema_error(
    error: ValidationError, titles: Mapping[str, str], data: Mapping[Any, Any]
) -> FieldError:
    """Our own wording for a schema error; jsonschema's would quote the (secret) value."""
    path = [part for part in error.absolute_path if isinstance(part, str)]
    if error.validator == "additionalProperties":
        extra = sorted(str(key) for key in data if key not in titles)
        return FieldError(
            None, f"Unknown field(s): {', '.join(extra)}. Allowed: {', '.join(titles)}."
        )
    if not path:
        return FieldError(None, "The credential must be a JSON object.")
    name = path[0]
    title = titles.get(name, name)
    if error.validator == "type":
        return FieldError(name, f"{title} must be text.")
    if error.validator == "minLength":
        return FieldError(name, f"{title} must not be empty.")
    if error.validator == "maxLength":
        limit = error.validator_value
        return FieldError(name, f"{title} is too long (at most {limit} characters).")
    if error.validator == "pattern":
        value = data.get(name)
        if isinstance(value, str) and value != value.strip():
            return FieldError(name, f"{title} has spaces or line breaks around it: remove them.")
        return FieldError(name, f"{title} must not contain spaces: copy it again from Procurify.")
    return FieldError(name, f"{title} is not valid ({error.validator}).")


def base_url_problems(value: str, *, allow_loopback: bool = False) -> list[str]:
    """Each way ``value`` differs from ``https://<company>.procurify.com``, one message each."""
    problems: list[str] = []
    if value != value.strip():
        problems.append("Base URL has spaces or line breaks around it: remove them.")
        value = value.strip()
    if "://" not in value:
        return [
            *problems,
            f"Base URL must start with https:// (for example {EXAMPLE_BASE_URL}).",
        ]
    try:
        parts = urlsplit(value)
        hostname = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return [*problems, f"Base URL is not a valid address; use the form {EXAMPLE_BASE_URL}."]
    loopback = hostname in LOOPBACK_HOSTS
    sandbox = loopback and allow_loopback
    if sandbox:
        if parts.scheme.lower() != "http":
            problems.append("A loopback Base URL must use http:// (the sandbox serves no TLS).")
        if port is None:
            problems.append("A loopback Base URL needs a port, as in http://127.0.0.1:8080.")
    else:
        if parts.scheme.lower() != "https":
            hint = (
                f" (loopback addresses are accepted only when the host sets {ALLOW_LOOPBACK_ENV}=1)"
                if loopback
                else ""
            )
            problems.append(f"Base URL must use https://: Procurify only serves HTTPS{hint}.")
        if port is not None:
            problems.append(f"Base URL must not include a port (:{port}): remove it.")
    if parts.username is not None or parts.password is not None:
        problems.append("Base URL must not contain a user name or password before the host.")
    if parts.path == "/":
        problems.append("Base URL must not end with a slash: remove the trailing '/'.")
    elif parts.path:
        problems.append(
            "Base URL must not include a path such as /api/v3: give only "
            "https://<company>.procurify.com."
        )
    if parts.query or value.rstrip("#").endswith("?"):
        problems.append("Base URL must not include a query ('?...'): remove it.")
    if parts.fragment or value.endswith("#"):
        problems.append("Base URL must not include a fragment ('#...'): remove it.")
    if not sandbox:
        scheme_written = value.split("://", 1)[0]
        problems.extend(
            _host_problems(parts.hostname or "", parts.netloc, loopback, scheme_written)
        )
    return problems


def _host_problems(
    hostname: str, netloc: str, loopback: bool, scheme_written: str = "https"
) -> list[str]:
    host = hostname.lower()
    if not host:
        return [f"Base URL has no host; use the form {EXAMPLE_BASE_URL}."]
    if _is_ip_address(host) or loopback:
        return [
            "Base URL must be your company's Procurify address (<company>.procurify.com), "
            "not an IP address or a private host."
        ]
    if host == PROCURIFY_DOMAIN or host == f"www.{PROCURIFY_DOMAIN}":
        return [
            "Base URL must include your company's subdomain, as in "
            f"{EXAMPLE_BASE_URL}: the address you see after signing in to Procurify."
        ]
    if not host.endswith("." + PROCURIFY_DOMAIN):
        return [
            "Base URL must be an address on procurify.com "
            f"(https://<company>.procurify.com); '{host}' is not."
        ]
    subdomain = host[: -len(PROCURIFY_DOMAIN) - 1]
    problems = []
    if "." in subdomain:
        problems.append(
            "Base URL must have a single company name before .procurify.com "
            f"(for example {EXAMPLE_BASE_URL})."
        )
    elif not _is_dns_label(subdomain):
        problems.append("Base URL's company name may only hold letters, digits and inner hyphens.")
    host_written = netloc.split("@")[-1].split(":")[0]
    if hostname != host or host_written != hostname or scheme_written != scheme_written.lower():
        problems.append(f"Base URL must be written in lowercase: https://{host}.")
    return problems


def _is_loopback_url(value: str) -> bool:
    try:
        return (urlsplit(value.strip()).hostname or "") in LOOPBACK_HOSTS
    except ValueError:
        return False


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_dns_label(label: str) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    return (
        0 < len(label) <= 63
        and set(label) <= allowed
        and not label.startswith("-")
        and not label.endswith("-")
    )
