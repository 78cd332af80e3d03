"""Subscriber import and export: CSV or JSON in, a checked plan out; rows out for export.

Pure: `read_records` turns file bytes into numbered records, `plan_import` validates them
against the subscribers already stored and says what would be created, updated or left
alone, with every bad row and its line number. The CLI shows the plan (a dry run) or
applies it in one transaction — all or nothing.

CSV cells are safe to open in a spreadsheet (OWASP "CSV injection"): a text cell starting
with = + - @ tab or CR, which Excel, LibreOffice and Sheets would run as a formula, is
written with a leading apostrophe (`'=HYPERLINK(...)`), and so is one that already starts
with an apostrophe followed by one of those (or by another apostrophe), so reading strips
exactly one and every value round-trips unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from digest.errors import DigestError, not_utf8
from digest.subscribers import SubscriberSpec, WEEKDAYS, email_key, spec_from

EXPORT_FIELDS = (
    "email", "name", "status", "interests", "timezone", "send_hour", "frequency", "weekday",
    "max_papers", "min_score", "send_empty", "feed_token", "created_at", "confirmed_at",
)
SPEC_FIELDS = tuple(SubscriberSpec.model_fields)
_ALIASES = {"hour": "send_hour", "keywords": "interests", "query": "interests"}
_KEPT = ("feed_token", "created_at", "confirmed_at")
# What makes a spreadsheet treat a cell as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ImportFileError(DigestError):
    """The file itself cannot be read (not CSV/JSON, no email column, ...)."""


@dataclass(slots=True)
class Record:
    line: int
    fields: dict[str, Any]


@dataclass(slots=True)
class RowError:
    line: int
    message: str


@dataclass(slots=True)
class Planned:
    line: int
    spec: SubscriberSpec
    kept: dict[str, Any]  # feed_token / created_at / confirmed_at carried over from an export


@dataclass(slots=True)
class ImportPlan:
    create: list[Planned] = field(default_factory=list)
    update: list[tuple[Planned, dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "create": len(self.create),
            "update": len(self.update),
            "unchanged": self.unchanged,
            "errors": [{"line": e.line, "error": e.message} for e in self.errors],
        }


def read_records(data: bytes, *, name: str) -> list[Record]:
    """Rows of a CSV (header line required) or JSON (array of objects) file, numbered."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        message, line = not_utf8(data, err)
        raise ImportFileError(f"{name}:{line}: {message}") from None
    if name.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{"):
        return _json_records(text, name)
    return _csv_records(text, name)


def _csv_records(text: str, name: str) -> list[Record]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [_column(c) for c in reader.fieldnames or []]
    if "email" not in header:
        raise ImportFileError(f"{name}: no 'email' column in the header line (columns: {', '.join(EXPORT_FIELDS)})")
    reader.fieldnames = header
    records = []
    for row in reader:
        # line_num is the physical line the row ended on: right even with quoted newlines.
        extra = row.pop(None, None)
        fields = {k: (unescape_cell(v) if v != "" else None) for k, v in row.items() if k}
        if extra:
            fields["__extra__"] = extra
        records.append(Record(reader.line_num, fields))
    return records


def _json_records(text: str, name: str) -> list[Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ImportFileError(f"{name}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("subscribers"), list):
        data = data["subscribers"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ImportFileError(f"{name}: expected a JSON array of subscriber objects")
    return [Record(number, {_column(k): v for k, v in item.items()}) for number, item in enumerate(data, start=1)]


def _column(name: str | None) -> str:
    cleaned = (name or "").strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(cleaned, cleaned)


def plan_import(records: Iterable[Record], existing: Mapping[str, Any]) -> ImportPlan:
    """Validate every record and compare it with the stored row of the same address."""
    plan = ImportPlan()
    seen: dict[str, int] = {}
    for record in records:
        try:
            planned = _check(record)
        except DigestError as err:
            plan.errors.append(RowError(record.line, str(err)))
            continue
        key = email_key(planned.spec.email)
        if key in seen:
            plan.errors.append(RowError(record.line, f"{planned.spec.email} already appears on line {seen[key]}"))
            continue
        seen[key] = record.line
        _classify(plan, planned, existing.get(key))
    return plan


def _check(record: Record) -> Planned:
    if "__extra__" in record.fields:
        raise DigestError("more values than columns in the header")
    unknown = set(record.fields) - set(SPEC_FIELDS) - set(_KEPT)
    if unknown:
        raise DigestError(f"unknown column(s) {', '.join(sorted(unknown))}")
    spec = spec_from({k: v for k, v in record.fields.items() if k in SPEC_FIELDS})
    kept = {k: record.fields[k] for k in _KEPT if record.fields.get(k)}
    for stamp in ("created_at", "confirmed_at"):
        if stamp in kept:
            kept[stamp] = _timestamp(kept[stamp], stamp)
    return Planned(record.line, spec, kept)


def _timestamp(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise DigestError(f"invalid {name}: {value!r} is not an ISO date-time") from None
    if parsed.tzinfo is None:
        raise DigestError(f"invalid {name}: {value!r} has no time zone offset")
    return parsed


def _classify(plan: ImportPlan, planned: Planned, stored: Any) -> None:
    if stored is None:
        plan.create.append(planned)
        return
    wanted = planned.spec.model_dump()
    changes = {k: v for k, v in wanted.items() if getattr(stored, k) != v}
    if changes:
        plan.update.append((planned, changes))
    else:
        plan.unchanged += 1


def export_row(row: Any) -> dict[str, Any]:
    """One stored subscriber as an export record (the import reads it back unchanged)."""
    record = {name: getattr(row, name) for name in EXPORT_FIELDS}
    record["weekday"] = WEEKDAYS[row.weekday] if row.weekday is not None else None
    for stamp in ("created_at", "confirmed_at"):
        record[stamp] = record[stamp].isoformat() if record[stamp] else None
    return record


def escape_cell(value: Any) -> Any:
    """A text cell a spreadsheet will show as text, never run (see the module docstring)."""
    if isinstance(value, str) and value and (value.startswith(_FORMULA_START)
                                             or (value[0] == "'" and value[1:2] in (*_FORMULA_START, "'"))):
        return "'" + value
    return value


def unescape_cell(value: str | None) -> str | None:
    """The inverse of `escape_cell` for a cell read back from CSV."""
    if value and value[0] == "'" and value[1:2] in (*_FORMULA_START, "'"):
        return value[1:]
    return value


def to_csv(records: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO(newline="")
    # CRLF (RFC 4180): the csv module quotes a cell holding any line-terminator character, so
    # with "\n" alone a lone CR in a cell (a textarea's newline) would split the row on reading.
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else escape_cell(v)) for k, v in record.items()})
    return out.getvalue()


def to_json(records: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(records), ensure_ascii=False, indent=2) + "\n"
