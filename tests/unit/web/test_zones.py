"""The time zone picker: places people live, grouped by region, with correct UTC offsets."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

import pytest

from digest.web.context import make_templates
from digest.web.forms import DAYS, HOURS, validate
from digest.web.zones import REGIONS, timezone_choices

WINTER = datetime(2026, 1, 15, 12, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, tzinfo=UTC)


def offered(choices) -> list[str]:
    return [choices.utc.name, *(zone.name for group in choices.groups for zone in group.zones)]


def labels(choices) -> dict[str, str]:
    return {zone.name: zone.label for group in choices.groups for zone in group.zones}


def test_only_real_places_are_offered():
    names = offered(timezone_choices(WINTER))
    assert names[0] == "UTC" and len(names) == len(set(names))
    # After UTC, only Region/Place: no Factory, localtime, GMT, EST5EDT, Etc/GMT+5, US/Pacific...
    regions = {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian",
               "Pacific"}
    assert [name for name in names[1:] if name.partition("/")[0] not in regions] == []
    assert {"Asia/Calcutta", "Europe/Kiev", "Asia/Saigon", "America/Buenos_Aires", "Asia/Rangoon", "Australia/ACT",
            "America/Fort_Wayne", "Pacific/Samoa"}.isdisjoint(names)
    assert {"Europe/Berlin", "Asia/Kolkata", "Europe/Kyiv", "America/Argentina/Buenos_Aires", "Pacific/Chatham",
            "Australia/Lord_Howe", "America/St_Johns", "Asia/Kathmandu"} <= set(names)
    # One per country and region (IANA's zone.tab), down from every name the system knows.
    assert 380 <= len(names) < len(available_timezones()) - 150


def test_every_offered_zone_is_accepted_by_the_form():
    form = {"email": "ada@example.org", "interests": "", "send_hour": "7", "frequency": "daily", "weekday": "0"}
    refused = [name for name in offered(timezone_choices(WINTER)) if validate({**form, "timezone": name})[1]]
    assert refused == []


def test_zones_are_grouped_by_region_in_alphabetical_order():
    choices = timezone_choices(WINTER)
    regions = [group.region for group in choices.groups]
    assert regions == sorted(regions) and regions[:2] == ["Africa", "Americas"] and "Pacific Ocean" in regions
    for group in choices.groups:
        prefix = {label: key for key, label in REGIONS.items()}.get(group.region, group.region)
        assert all(zone.name.startswith(prefix + "/") for zone in group.zones), group.region
        places = [zone.label.rpartition(" (")[0].casefold() for zone in group.zones]
        assert places == sorted(places), group.region


@pytest.mark.parametrize(("name", "winter", "summer"), [
    ("Europe/Berlin", "Berlin (UTC+01:00)", "Berlin (UTC+02:00)"),
    ("America/Los_Angeles", "Los Angeles (UTC\u221208:00)", "Los Angeles (UTC\u221207:00)"),
    ("America/St_Johns", "St Johns (UTC\u221203:30)", "St Johns (UTC\u221202:30)"),
    ("Asia/Kolkata", "Kolkata (UTC+05:30)", "Kolkata (UTC+05:30)"),
    ("Asia/Kathmandu", "Kathmandu (UTC+05:45)", "Kathmandu (UTC+05:45)"),
    ("Pacific/Chatham", "Chatham (UTC+13:45)", "Chatham (UTC+12:45)"),
    ("Europe/London", "London (UTC+00:00)", "London (UTC+01:00)"),
    ("America/Argentina/Buenos_Aires", "Argentina / Buenos Aires (UTC\u221203:00)",
     "Argentina / Buenos Aires (UTC\u221203:00)"),
])
def test_labels_show_the_place_and_its_offset_at_that_moment(name, winter, summer):
    assert labels(timezone_choices(WINTER))[name] == winter
    assert labels(timezone_choices(SUMMER))[name] == summer


def test_offsets_change_at_the_moment_the_clocks_do():
    # St John's springs forward at 02:00 local on 8 March 2026, which is 05:30 UTC.
    before = labels(timezone_choices(datetime(2026, 3, 8, 5, 29, 59, tzinfo=UTC)))["America/St_Johns"]
    after = labels(timezone_choices(datetime(2026, 3, 8, 5, 30, tzinfo=UTC)))["America/St_Johns"]
    assert (before, after) == ("St Johns (UTC\u221203:30)", "St Johns (UTC\u221202:30)")


@pytest.mark.parametrize(("name", "listed"), [
    ("Asia/Calcutta", "Asia/Kolkata"), ("Europe/Kiev", "Europe/Kyiv"), ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
    ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"), ("US/Pacific", "America/Los_Angeles"),
    ("Etc/UTC", "UTC"), ("Zulu", "UTC"), ("Europe/Berlin", "Europe/Berlin"),
    ("Etc/GMT+5", None), ("Factory", None), ("localtime", None), ("Mars/Olympus_Mons", None), ("", None),
])
def test_old_names_lead_to_the_listed_zone(name, listed):
    choices = timezone_choices(WINTER)
    assert choices.listed(name) == listed
    assert (name in choices) == (listed is not None)


def test_every_alias_keeps_the_time_of_its_zone():
    choices = timezone_choices(WINTER)
    for zone in (choices.utc, *(zone for group in choices.groups for zone in group.zones)):
        for alias in zone.aliases:
            assert choices.listed(alias) == zone.name
            for moment in (WINTER, SUMMER):
                offsets = {moment.astimezone(ZoneInfo(name)).utcoffset() for name in (alias, zone.name)}
                assert len(offsets) == 1, (alias, zone.name, moment)
    aliases = {alias: zone.name for group in choices.groups for zone in group.zones for alias in zone.aliases}
    assert aliases["Asia/Calcutta"] == "Asia/Kolkata" and "Etc/UTC" in choices.utc.aliases


def render_schedule(timezone: str, *, detect_zone: bool = False) -> str:
    fields = make_templates().get_template("_fields.html").module
    values = {"timezone": timezone, "send_hour": "7", "frequency": "daily", "weekday": "0"}
    return str(fields.schedule(values, {}, timezone_choices(WINTER), HOURS, DAYS, detect_zone))


def test_the_select_has_utc_first_then_one_optgroup_per_region():
    html = render_schedule("Europe/Berlin")
    assert html.index('<option value="UTC">UTC</option>') < html.index('<optgroup label="Africa">')
    assert html.count("<optgroup") == len(timezone_choices(WINTER).groups) == html.count("</optgroup>")
    assert '<option value="Europe/Berlin" selected>Berlin (UTC+01:00)</option>' in html
    assert "data-alias" not in html  # only the subscribe form detects the zone


def test_a_stored_old_name_selects_its_zone_and_an_unlisted_one_is_kept():
    html = render_schedule("Asia/Calcutta")
    assert '<option value="Asia/Kolkata" selected>' in html and 'value="Asia/Calcutta"' not in html
    kept = render_schedule("Etc/GMT+5")
    assert re.search(r'<select[^>]*>\s*<option value="Etc/GMT\+5" selected>Etc/GMT\+5</option>', kept)
    assert kept.count(" selected") == 1 + 2  # the zone, the hour and the weekday


def test_detection_gets_the_old_names_browsers_report():
    html = render_schedule("UTC", detect_zone=True)
    kolkata = re.search(r'<option value="Asia/Kolkata"[^>]*>', html).group(0)
    assert "Asia/Calcutta" in kolkata.split('data-alias="')[1].split('"')[0].split()
