"""A secret and its masking: a ``Secret`` never shows itself, and ``redact``/``redact_text``
cut a secret out of any text (an answer, a log line) in any spelling a server may write it;
``secrets_in`` finds the secret a raw configuration holds, so that an entry point masks it in
whatever it says about that configuration.

Apart from ``credential.py`` (the credential model and its validation): what is hidden and
how is one concern, what is accepted as a credential another.
"""

from __future__ import annotations

__all__ = ["MASK", "MIN_MASKED_LENGTH", "Secret", "redact", "redact_text", "secrets_in"]

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

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


def secrets_in(config: object) -> tuple[Secret, ...]:
    """The secret a raw configuration (or credential) holds, before any of it is checked: its
    ``client_secret`` when that is text that is not empty, however wrong the rest is (a
    message about the rest may quote the same text used elsewhere, as a key or a name)."""
    value = config.get("client_secret") if isinstance(config, Mapping) else None
    if not isinstance(value, str):
        return ()
    # With spaces around it (a copying mistake the credential refuses), the secret itself is
    # the text inside them.
    return tuple(Secret(each) for each in dict.fromkeys((value, value.strip())) if each)


# Shorter values are not looked for in answers: they would mask ordinary words.
MIN_MASKED_LENGTH = 8
# What an answer becomes when a secret in it could be recognised but not cut out.
WITHHELD = "[withheld: the answer repeated a secret]"

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "'": "\\'",
}
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
            decoded = _decode_escapes(last)
            if decoded == last:
                return None
            self._views.append(decoded)
        return self._views[level]


def _decode_escapes(text: str) -> str:
    """``_ESCAPE.sub(_unescaped, text)``, faster: an escape only starts at one of
    ``_INTRODUCERS``, found with ``str.find`` (a scan in C), so the pattern is only tried
    there and a long answer with a few escapes costs little more than a copy."""
    pieces: list[str] = []
    copied = 0
    upcoming = {char: text.find(char) for char in _INTRODUCERS}
    while True:
        found = [at for at in upcoming.values() if at >= 0]
        if not found:
            break
        at = min(found)
        match = _ESCAPE.match(text, at)
        if match is None:
            resume = at + 1
        else:
            pieces.append(text[copied:at])
            pieces.append(_unescaped(match))
            copied = resume = match.end()
        for char, position in upcoming.items():
            if 0 <= position < resume:
                upcoming[char] = text.find(char, resume)
    pieces.append(text[copied:])
    return "".join(pieces)


def _folded(text: str) -> str:
    text = text.replace("+", " ")
    return text.lower() if text.isascii() else text.upper().casefold()


def _unescaped(match: re.Match[str]) -> str:
    escape = match.group()
    if escape[0] == "&":
        return html.unescape(escape)
    if escape[0] == "%" or escape[1] == "x":
        data = (
            bytes(int(escape[at + 1 : at + 3], 16) for at in range(0, len(escape), 3))
            if escape[0] == "%"
            else bytes(int(escape[at + 2 : at + 4], 16) for at in range(0, len(escape), 4))
        )
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
