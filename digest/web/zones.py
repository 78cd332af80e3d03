"""The time zones a person picks from: one per place, grouped by region, with today's UTC offset.

`available_timezones()` has ~600 names, most of them no use in a picker: `Factory`,
`localtime`, `Etc/GMT+5` (whose sign is the reverse of what it says: it is UTC-5), and
backward-compatible aliases such as `US/Pacific` or `Asia/Calcutta`. The list offered is
IANA's own `zone.tab` (one entry per country and region, ~420 zones, what `tzselect` and most
operating-system pickers offer), read from the `tzdata` package, plus UTC.

The aliases are not forgotten: browsers still report some of them (Chromium says
`Asia/Calcutta` for India, `Europe/Kiev`, `Asia/Saigon`), so each listed zone carries the
names that link to it (from tzdata's `tzdata.zi`), for the page's zone detection and for a
stored setting that uses an old name. Validation still accepts every IANA name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from zoneinfo import ZoneInfo, available_timezones

# Friendlier names for zone.tab's first path component.
REGIONS = {"America": "Americas", "Atlantic": "Atlantic Ocean", "Indian": "Indian Ocean", "Pacific": "Pacific Ocean"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneChoice:
    """One option: `name` is the IANA zone (the value posted), `label` what is shown."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneGroup:
    region: str
    zones: tuple[ZoneChoice, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneChoices:
    """UTC first, then one group per region (alphabetical), places alphabetical in each."""

    utc: ZoneChoice
    groups: tuple[ZoneGroup, ...]

    def listed(self, name: str) -> str | None:
        """The listed zone that `name` is (itself, or the zone an old alias links to), else None."""
        return _catalogue().listed_as.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.listed(name) is not None

    def __len__(self) -> int:
        return 1 + sum(len(group.zones) for group in self.groups)


@dataclass(frozen=True, slots=True)
class _Catalogue:
    names: tuple[str, ...]  # zone.tab's zones, sorted by region then place
    aliases: dict[str, tuple[str, ...]]  # listed zone -> the other names that link to it
    listed_as: dict[str, str]  # any known name -> its listed zone


def timezone_choices(now: datetime | None = None) -> ZoneChoices:
    """The picker's zones with their UTC offsets at `now` (default: the current time).

    Built once per quarter hour: every clock change in use today happens on a quarter hour of UTC.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return _choices_at(moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0))


@lru_cache(maxsize=4)
def _choices_at(moment: datetime) -> ZoneChoices:
    catalogue = _catalogue()
    groups: dict[str, list[ZoneChoice]] = {}
    for name in catalogue.names:
        region, _, place = name.partition("/")
        label = f"{place.replace('_', ' ').replace('/', ' / ')} ({utc_offset(name, moment)})"
        groups.setdefault(region, []).append(ZoneChoice(name=name, label=label, aliases=catalogue.aliases[name]))
    return ZoneChoices(
        utc=ZoneChoice(name="UTC", label="UTC", aliases=catalogue.aliases["UTC"]),
        groups=tuple(ZoneGroup(region=REGIONS.get(region, region), zones=tuple(zones))
                     for region, zones in groups.items()),
    )


def utc_offset(name: str, moment: datetime) -> str:
    """'UTC+05:30', 'UTC−03:00' (a true minus sign, as screen readers say "minus")."""
    offset = moment.astimezone(ZoneInfo(name)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "\u2212"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    known = available_timezones()
    listed = sorted((name for name in _zone_tab() if name in known), key=_region_and_place)
    links = _links()
    # Which listed zone stands for each zone that links point at: itself if listed, else
    # a listed name that is a link to it (UTC stands for Etc/UTC).
    standing = {name: name for name in [*listed, "UTC"]}
    for name in [*listed, "UTC"]:
        standing.setdefault(links.get(name, name), name)
    listed_as = dict(standing)
    for name in sorted(known - standing.keys()):
        target = standing.get(links.get(name, name))
        if target is not None:
            listed_as[name] = target
    aliases: dict[str, list[str]] = {name: [] for name in [*listed, "UTC"]}
    for name, target in listed_as.items():
        if name != target:
            aliases[target].append(name)
    return _Catalogue(names=tuple(listed), aliases={name: tuple(found) for name, found in aliases.items()},
                      listed_as=listed_as)


def _region_and_place(name: str) -> tuple[str, str]:
    region, _, place = name.partition("/")
    return region, place.replace("_", " ").casefold()


def _tzdata_file(name: str) -> str:
    return files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")


def _zone_tab() -> list[str]:
    """zone.tab's third column (lines: country code, coordinates, zone, comment)."""
    return [line.split("\t")[2] for line in _tzdata_file("zone.tab").splitlines()
            if line.strip() and not line.startswith("#")]


def _links() -> dict[str, str]:
    """Link name -> target, from tzdata.zi's `L TARGET LINK` lines."""
    links = {}
    for line in _tzdata_file("tzdata.zi").splitlines():
        if line.startswith("L "):
            _, target, name = line.split()
            links[name] = target
    return links
