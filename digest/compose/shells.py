"""Templates compiled once per run into shells: rendered, CSS-inlined HTML with holes.

A template is rendered with every per-message value replaced by a *slot* marker,
CSS-inlined once with css-inline, and split at the markers into a `Shell`. Filling a
shell is one %-format of escaped values, so a message costs no template or CSS work.
"""

from __future__ import annotations

import re
from typing import Iterable

from markupsafe import Markup, escape

__all__ = ["Shell", "Slot", "esc", "utf8"]

# Slot markers use Unicode private-use characters: they never occur in templates,
# survive css-inline's parse/serialise untouched (checked at compile time), and need no
# escaping in text or attribute values.
_SLOT_OPEN, _SLOT_CLOSE = "\ue000", "\ue001"
_SLOT_RE = re.compile(f"{_SLOT_OPEN}([A-Za-z_][A-Za-z0-9_]*){_SLOT_CLOSE}")


class Slot(Markup):
    """A placeholder printed into a template compiled once; refuses to be tested.

    `{% if slot %}` would be decided at compile time, for every subscriber at once, so
    it raises instead of silently picking a branch.
    """

    def __new__(cls, name: str) -> "Slot":
        return super().__new__(cls, f"{_SLOT_OPEN}{name}{_SLOT_CLOSE}")

    def __bool__(self) -> bool:
        raise TypeError("a per-message slot cannot be tested in a compiled template; print it only")

    def __iter__(self):
        raise TypeError("a per-message slot cannot be looped over in a compiled template")

    def __len__(self) -> int:
        raise TypeError("a per-message slot has no length in a compiled template")


class Shell:
    """Rendered, CSS-inlined HTML with holes, filled by one %-format.

    `fill` trusts its values: each must already be safe HTML for where its slot sits
    (escape untrusted text with `esc`). Escaping is the caller's job because the hot
    path knows which values are already safe and Markup round trips cost real time.
    Raises ValueError at construction when a slot is missing, unexpected or was altered.
    """

    __slots__ = ("_format", "_format_utf8", "_order", "slots")

    def __init__(self, html: str, expected: Iterable[str], where: str):
        parts = _SLOT_RE.split(html)
        statics, names = parts[0::2], parts[1::2]
        for static in statics:
            if _SLOT_OPEN in static or _SLOT_CLOSE in static:
                raise ValueError(f"{where}: a slot was altered (filtered?) during compilation")
        missing = set(expected) - set(names)
        unknown = set(names) - set(expected)
        if missing or unknown:
            raise ValueError(f"{where}: slots missing {sorted(missing)}, unexpected {sorted(unknown)}")
        self._format = "%s".join(static.replace("%", "%%") for static in statics)
        self._format_utf8 = utf8(self._format)
        self._order = tuple(names)
        self.slots = frozenset(names)

    def fill(self, **values: str) -> str:
        return self._format % tuple([values[name] for name in self._order])

    def fill_utf8(self, **values: bytes) -> bytes:
        """`fill` in UTF-8: each value given as `utf8` bytes of what `fill` would take."""
        return self._format_utf8 % tuple([values[name] for name in self._order])


_SURROGATES = re.compile("[\ud800-\udfff]")


def utf8(value: str) -> bytes:
    """`value` as UTF-8, a lone surrogate as U+FFFD: what `mail.bodies` makes of a body, so
    pieces encoded apart and joined are the bytes of the whole encoded at once."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", value).encode("utf-8")


def esc(value: object) -> str:
    """HTML-escape text for element content or a quoted attribute value."""
    return str(escape(value))
