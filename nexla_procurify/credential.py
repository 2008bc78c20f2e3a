"""The Procurify credential: its model, its validation and the masking of its secret."""

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

import html
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from nexla_procurify import manifest
from nexla_procurify.errors import CredentialError
from nexla_procurify.messages import FieldError, ValidationResult

ALLOW_LOOPBACK_ENV = "NEXLA_PROCURIFY_ALLOW_LOOPBACK"
PROCURIFY_DOMAIN = "procurify.com"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
EXAMPLE_BASE_URL = "https://acme.procurify.com"
MASK = "********"


class Secret:
    """A string that never shows itself: ``str``, ``repr`` and formatting all mask it."""

    __slots__ = ("_pattern", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        self._pattern: re.Pattern[str] | None = None

    def reveal(self) -> str:
        """The real value, for the one place that must send it."""
        return self._value

    def spellings(self) -> re.Pattern[str]:
        """Matches the value in any spelling ``redact_text`` masks (built once)."""
        if self._pattern is None:
            self._pattern = _spellings_of(self._value)
        return self._pattern

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Secret cannot be pickled")


# Shorter values are not looked for in answers: they would mask ordinary words.
MIN_MASKED_LENGTH = 8
# What an answer becomes when a secret in it could be recognised but not cut out.
WITHHELD = "[withheld: the answer repeated a secret]"

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f",
                  "\n": "\\n", "\r": "\\r", "\t": "\\t", "'": "\\'"}
_SHORT_UNESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
# Characters that start an escape: a secret holding one is always searched for in full.
_INTRODUCERS = frozenset("\\%&")
# One escape of any kind a server may write characters in (JSON, Python, URL, HTML); runs of
# %XX or \xXX are the bytes of UTF-8 characters. The leading class keeps the scan fast.
_ESCAPE = re.compile(
    r"[\\%&](?:"
    r"(?<=%)[0-9a-fA-F]{2}(?:%[0-9a-fA-F]{2})*"
    r"|(?<=\\)(?:x[0-9a-fA-F]{2}(?:\\x[0-9a-fA-F]{2})*"
    r"|U[0-9a-fA-F]{8}|[uU][dD][89abAB][0-9a-fA-F]{2}\\[uU][dD][c-fC-F][0-9a-fA-F]{2}"
    r"|[uU][0-9a-fA-F]{4}|[\\/\"'bfnrt])"
    r"|(?<=&)(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);)"
)


def redact(text: bytes, secrets: Iterable[Secret]) -> bytes:
    """``text`` (UTF-8) with every secret masked, in any spelling (see ``redact_text``)."""
    decoded = text.decode("utf-8", "surrogateescape")
    cleaned = redact_text(decoded, secrets)
    return text if cleaned == decoded else cleaned.encode("utf-8", "surrogateescape")


def redact_text(text: str, secrets: Iterable[Secret]) -> str:
    r"""``text`` with every secret masked: as written, in upper or lower case, and with any
    of its characters escaped once the JSON way (``\u0026``, ``\/``), the Python way
    (``\x26``), the URL way (``%26``, ``+``) or the HTML way (``&amp;``, ``&#38;``), mixed
    freely. When a secret is still recognisable after masking (an escaping not listed, or
    an escaped secret inside a JSON string), the whole text is withheld. Secrets shorter
    than ``MIN_MASKED_LENGTH`` are left alone."""
    folded = _Folded(text)
    for secret in secrets:
        value = secret.reveal()
        if len(value) < MIN_MASKED_LENGTH:
            continue
        if _INTRODUCERS.isdisjoint(value) and not folded.holds(value):
            continue
        text = secret.spellings().sub(MASK, text)
        folded = _Folded(text)
        if folded.holds(value):
            return WITHHELD
    return text


class _Folded:
    """A text as written, and with one and two levels of escapes decoded (an escaped
    secret inside a JSON string is two levels deep), each case-folded with ``+`` read as a
    space: every spelling ``Secret.spellings`` matches of a value without an escape's
    first character folds to the value's own fold in one of them."""

    def __init__(self, text: str) -> None:
        self._views = [text]
        self._folded: list[str] = []

    def holds(self, value: str) -> bool:
        key = _folded(value)
        for level in range(3):
            if level == len(self._folded):
                view = self._view(level)
                if view is None:
                    return False
                self._folded.append(_folded(view))
            if key in self._folded[level]:
                return True
        return False

    def _view(self, level: int) -> str | None:
        """The text with ``level`` levels of escapes decoded; ``None`` when that changes
        nothing more."""
        while len(self._views) <= level:
            last = self._views[-1]
            if not ("\\" in last or "%" in last or "&" in last):
                return None
            decoded = _ESCAPE.sub(_unescaped, last)
            if decoded == last:
                return None
            self._views.append(decoded)
        return self._views[level]


def _folded(text: str) -> str:
    text = text.replace("+", " ")
    return text.lower() if text.isascii() else text.upper().casefold()


def _unescaped(match: re.Match[str]) -> str:
    escape = match.group()
    if escape[0] == "&":
        return html.unescape(escape)
    if escape[0] == "%" or escape[1] == "x":
        data = bytes(int(escape[at + 1: at + 3], 16) for at in range(0, len(escape), 3)) \
            if escape[0] == "%" else \
            bytes(int(escape[at + 2: at + 4], 16) for at in range(0, len(escape), 4))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    if escape[1] in "uU":
        if len(escape) == 12:  # a surrogate pair
            high, low = int(escape[2:6], 16), int(escape[8:12], 16)
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        code = int(escape[2:], 16)
        return chr(code) if code <= 0x10FFFF else escape
    return _SHORT_UNESCAPES.get(escape[1], escape[1])


def _spellings_of(value: str) -> re.Pattern[str]:
    # Atomic groups, longest spelling first: a character once matched is not matched again
    # another way, which keeps the search linear (a spelling only found by backtracking is
    # still recognised afterwards, and the text withheld).
    parts = []
    for char in value:
        variants = {char, char.lower(), char.upper(), char.casefold(), char.title()}
        spelled = ["".join(_char_spellings(each) for each in variant) for variant in variants]
        parts.append("(?>" + "|".join(sorted(spelled, key=len, reverse=True)) + ")")
    return re.compile("".join(parts), re.IGNORECASE)


def _char_spellings(char: str) -> str:
    code = ord(char)
    forms = [re.escape(char)]
    if code < 0x10000:
        forms.append(rf"\\u{code:04x}")
    else:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.extend((rf"\\u{high:04x}\\u{low:04x}", rf"\\U{code:08x}"))
    utf8 = char.encode("utf-8", "surrogatepass")
    forms.append("".join(f"%{byte:02x}" for byte in utf8))
    forms.append("".join(rf"\\x{byte:02x}" for byte in utf8))
    if 0x80 <= code < 0x100:
        forms.extend((rf"\\x{code:02x}", f"%{code:02x}"))
    forms.extend((f"&#0*{code:d};", f"&#x0*{code:x};"))
    if char in _SHORT_ESCAPES:
        forms.append(re.escape(_SHORT_ESCAPES[char]))
    if char in _HTML_ESCAPES:
        forms.append(re.escape(_HTML_ESCAPES[char]))
    if char == " ":
        forms.append(r"\+")
    return "(?>" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


@dataclass(frozen=True)
class Credential:
    name: str
    client_id: str
    client_secret: Secret = field(repr=False)
    base_url: str
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The credential for display: the secret is masked."""
        data: dict[str, Any] = {
            "name": self.name,
            "client_id": self.client_id,
            "client_secret": MASK,
            "base_url": self.base_url,
        }
        if self.description is not None:
            data["description"] = self.description
        return data


def loopback_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the host allowed loopback Base URLs (the sandbox and tests do)."""
    env = os.environ if environ is None else environ
    return env.get(ALLOW_LOOPBACK_ENV, "").strip() == "1"


def credential_schema() -> dict[str, Any]:
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
            problems = [f"Base URL must be exactly https://<company>.procurify.com, such as "
                        f"{EXAMPLE_BASE_URL}."]
        errors.extend(FieldError("base_url", problem) for problem in problems)
    return ValidationResult.of(errors)


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
        problems.append(
            "Base URL's company name may only hold letters, digits and inner hyphens."
        )
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
