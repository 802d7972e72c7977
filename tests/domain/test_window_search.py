"""Tests for clinictext.domain.window_search: when automated and campaign texts may go out.

Expected values follow SPEC §6 (automated and campaign texts only inside the send window in
the patient's local time, stricter where the patient's state requires) and the state rules
FL, MD, MS, NJ, OK 08:00–20:00; CT 09:00–20:00; TX 09:00–21:00 Monday–Saturday and
12:00–21:00 Sunday; RI 09:00–18:00 weekdays and 10:00–17:00 weekends. Every expected instant
was worked out by hand from the calendar and the IANA rules (e.g. New York is UTC-4 in June,
UTC-5 in January, and springs forward at 02:00 on 2024-03-10). No test reads the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinictext.domain.send_window import DEFAULT_WINDOW, Window, patient_zones, window_for
from clinictext.domain.window_search import NoSendWindowError, Placement, place

NY = ZoneInfo("America/New_York")
CHI = ZoneInfo("America/Chicago")
LA = ZoneInfo("America/Los_Angeles")
DEN = ZoneInfo("America/Denver")

NEW_YORK_CITY = "+12125550123"  # 212: New York, no state rule
MIAMI = "+13055550123"  # 305: Florida
DALLAS = "+12145550123"  # 214: Texas, Central time
PROVIDENCE = "+14015550123"  # 401: Rhode Island
HARTFORD = "+12035550123"  # 203: Connecticut
NORTH_DAKOTA = "+17015550123"  # 701: Mountain and Central time
TOLL_FREE = "+18005550123"  # 800: every NANP zone from Guam to Newfoundland
ORG_TZ = "America/New_York"
NINE_TO_FIVE = Window(time(9), time(17))


def at(tz: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def place_default(now: datetime, e164: str | None, explicit_tz: str | None = None) -> Placement:
    return place(now, DEFAULT_WINDOW, e164, explicit_tz, ORG_TZ)


# 2024-06-05 is a Wednesday; 2024-06-08 a Saturday; 2024-06-09 a Sunday.


# --- The default window -------------------------------------------------------------------


def test_text_at_2230_patient_time_goes_out_at_0800_next_day():
    now = at(NY, 2024, 6, 5, 22, 30)
    p = place_default(now, NEW_YORK_CITY)
    assert not p.allowed
    assert p.send_at == at(NY, 2024, 6, 6, 8, 0)
    assert p.send_at.tzinfo is UTC  # held instants are UTC: safe to compare and subtract
    assert p.zones == ("America/New_York",)
    assert p.state is None
    assert "goes out Thursday at 08:00 the patient's time (America/New_York)" in p.reason
    assert "9:30 from now" in p.reason


def test_0759_is_held_until_0800_same_day():
    p = place_default(at(NY, 2024, 6, 5, 7, 59), NEW_YORK_CITY)
    assert not p.allowed
    assert p.send_at == at(NY, 2024, 6, 5, 8, 0)
    assert "goes out at 08:00" in p.reason
    assert "0:01 from now" in p.reason


def test_inside_the_window_is_allowed_and_send_at_is_now():
    now = at(NY, 2024, 6, 5, 14, 5)
    p = place_default(now, NEW_YORK_CITY)
    assert p.allowed
    assert p.send_at is now
    assert p.reason == "Inside the send window: 14:05 the patient's time (America/New_York)."


def test_window_start_is_inside_and_end_is_outside():
    assert place_default(at(NY, 2024, 6, 5, 8, 0), NEW_YORK_CITY).allowed
    assert place_default(datetime(2024, 6, 5, 20, 59, 59, 999999, tzinfo=NY), NEW_YORK_CITY).allowed
    p = place_default(at(NY, 2024, 6, 5, 21, 0), NEW_YORK_CITY)
    assert not p.allowed
    assert p.send_at == at(NY, 2024, 6, 6, 8, 0)


def test_window_is_in_patient_time_not_in_the_time_of_now():
    # 10:00 in New York is 07:00 in Los Angeles: too early for a California patient.
    p = place(at(NY, 2024, 6, 5, 10, 0), DEFAULT_WINDOW, "+14155550123", None, ORG_TZ)
    assert not p.allowed
    assert p.send_at == at(LA, 2024, 6, 5, 8, 0)
    assert p.zones == ("America/Los_Angeles",)


# --- State rules ----------------------------------------------------------------------------


def test_florida_2030_is_held_until_0800_next_day():
    p = place_default(at(NY, 2024, 6, 5, 20, 30), MIAMI)
    assert not p.allowed
    assert p.state == "FL"
    assert p.send_at == at(NY, 2024, 6, 6, 8, 0)
    assert "Florida law: texts only until 20:00" in p.reason


def test_florida_1959_is_allowed():
    assert place_default(at(NY, 2024, 6, 5, 19, 59), MIAMI).allowed


def test_connecticut_0830_is_held_until_0900():
    p = place_default(at(NY, 2024, 6, 5, 8, 30), HARTFORD)
    assert not p.allowed
    assert p.state == "CT"
    assert p.send_at == at(NY, 2024, 6, 5, 9, 0)
    assert "Connecticut law: not before 09:00" in p.reason
    assert "0:30 from now" in p.reason


def test_texas_sunday_1000_is_held_until_noon_same_day():
    p = place_default(at(CHI, 2024, 6, 9, 10, 0), DALLAS)
    assert not p.allowed
    assert p.state == "TX"
    assert p.send_at == at(CHI, 2024, 6, 9, 12, 0)
    assert "Texas law: not before 12:00 on Sundays" in p.reason
    assert "goes out at 12:00 the patient's time (America/Chicago)" in p.reason


def test_texas_saturday_1000_is_allowed():
    p = place_default(at(CHI, 2024, 6, 8, 10, 0), DALLAS)
    assert p.allowed
    assert p.state == "TX"


def test_texas_weekday_0830_is_held_until_0900():
    p = place_default(at(CHI, 2024, 6, 5, 8, 30), DALLAS)
    assert p.send_at == at(CHI, 2024, 6, 5, 9, 0)
    assert "Texas law: not before 09:00 Monday to Saturday" in p.reason


def test_texas_saturday_night_is_held_until_sunday_noon():
    p = place_default(at(CHI, 2024, 6, 8, 21, 30), DALLAS)
    assert p.send_at == at(CHI, 2024, 6, 9, 12, 0)
    assert "goes out Sunday at 12:00" in p.reason


def test_rhode_island_saturday_1730_is_held_until_sunday_1000():
    p = place_default(at(NY, 2024, 6, 8, 17, 30), PROVIDENCE)
    assert not p.allowed
    assert p.state == "RI"
    assert p.send_at == at(NY, 2024, 6, 9, 10, 0)
    assert "Rhode Island law: texts only until 17:00 on weekends" in p.reason
    assert "goes out Sunday at 10:00" in p.reason


def test_rhode_island_friday_1800_is_held_until_saturday_1000():
    p = place_default(at(NY, 2024, 6, 7, 18, 0), PROVIDENCE)
    assert p.send_at == at(NY, 2024, 6, 8, 10, 0)


def test_rhode_island_weekday_1700_is_allowed():
    assert place_default(at(NY, 2024, 6, 5, 17, 0), PROVIDENCE).allowed


# --- Organization window --------------------------------------------------------------------


def test_org_window_0900_1700_is_respected():
    def p(h: int, mi: int = 0) -> Placement:
        return place(at(NY, 2024, 6, 5, h, mi), NINE_TO_FIVE, NEW_YORK_CITY, None, ORG_TZ)

    assert p(8, 30).send_at == at(NY, 2024, 6, 5, 9, 0)
    assert p(16, 59).allowed
    assert p(17, 0).send_at == at(NY, 2024, 6, 6, 9, 0)
    assert "Held for the send window (09:00–17:00)" in p(17, 0).reason


def test_state_rule_never_widens_org_window():
    # Florida allows until 20:00, but this clinic only texts until 17:00.
    p = place(at(NY, 2024, 6, 5, 17, 30), NINE_TO_FIVE, MIAMI, None, ORG_TZ)
    assert not p.allowed
    assert p.send_at == at(NY, 2024, 6, 6, 9, 0)
    # The clinic's window is what blocks, so the reason names it, not Florida law.
    assert "(09:00–17:00)" in p.reason
    assert "Florida" not in p.reason
    for day in (date(2024, 6, 5), date(2024, 6, 8), date(2024, 6, 9)):
        for state in ("FL", "MD", "MS", "NJ", "OK", "CT", "TX", "RI", None):
            w = window_for(NINE_TO_FIVE, state, day)
            assert NINE_TO_FIVE.start <= w.start and w.end <= NINE_TO_FIVE.end


def test_org_window_that_never_overlaps_the_state_law_raises_with_a_sentence():
    with pytest.raises(NoSendWindowError, match=r"Rhode Island law.*Widen the send window"):
        place(at(NY, 2024, 6, 5, 19, 0), Window(time(18), time(21)), PROVIDENCE, None, ORG_TZ)


# --- Time zones ---------------------------------------------------------------------------


def test_explicit_time_zone_overrides_the_numbers():
    # 09:00 in New York (the number's zone) but 06:00 for a patient who lives in LA.
    now = at(NY, 2024, 6, 5, 9, 0)
    p = place_default(now, NEW_YORK_CITY, explicit_tz="America/Los_Angeles")
    assert not p.allowed
    assert p.zones == ("America/Los_Angeles",)
    assert p.send_at == at(LA, 2024, 6, 5, 8, 0)
    assert place_default(now, NEW_YORK_CITY).allowed


def test_explicit_zone_keeps_the_numbers_state_rule():
    # A Florida number whose patient lives in Chicago: Florida's 20:00 applies in Chicago time.
    p = place_default(at(CHI, 2024, 6, 5, 20, 15), MIAMI, explicit_tz="America/Chicago")
    assert p.state == "FL"
    assert p.send_at == at(CHI, 2024, 6, 6, 8, 0)


def test_number_spanning_two_zones_uses_the_strictest():
    # 701 (North Dakota) is in Mountain and Central time. 08:30 Central is 07:30 Mountain:
    # allowed in one zone but not in the other, so it is held until 08:00 Mountain.
    assert patient_zones(NORTH_DAKOTA, None, ORG_TZ) == (
        "America/Denver",
        "America/North_Dakota/Center",
    )
    p = place_default(at(CHI, 2024, 6, 5, 8, 30), NORTH_DAKOTA)
    assert not p.allowed
    assert p.send_at == at(DEN, 2024, 6, 5, 8, 0)
    assert "America/Denver; the number could be in 2 time zones" in p.reason
    # And at the other end: 20:30 Mountain is 21:30 Central, already closed.
    p = place_default(at(DEN, 2024, 6, 5, 20, 30), NORTH_DAKOTA)
    assert not p.allowed
    assert p.send_at == at(DEN, 2024, 6, 6, 8, 0)


def test_toll_free_number_is_held_until_inside_the_window_in_every_zone():
    zones = patient_zones(TOLL_FREE, None, ORG_TZ)
    assert {"America/New_York", "Pacific/Guam", "Pacific/Pago_Pago"} <= set(zones)
    # 14:00 in New York is fine there, but 04:00 the next morning in Guam.
    p = place_default(at(NY, 2024, 6, 5, 14, 0), TOLL_FREE)
    assert not p.allowed
    assert p.zones == zones
    # Worked by hand: Guam (UTC+10) opens at 08:00 = 22:00 UTC; St. John's (UTC-2:30 in
    # summer) closes at 21:00 = 23:30 UTC; every other zone is open in between.
    assert p.send_at == datetime(2024, 6, 5, 22, 0, tzinfo=UTC)
    assert "Pacific/Guam" in p.reason
    assert place_default(datetime(2024, 6, 5, 23, 0, tzinfo=UTC), TOLL_FREE).allowed
    assert not place_default(datetime(2024, 6, 5, 23, 30, tzinfo=UTC), TOLL_FREE).allowed


def test_zones_with_no_common_hour_fall_back_to_the_org_zone():
    # 09:00–17:00 cannot be open from Guam to Newfoundland at once: use the clinic's zone.
    p = place(at(NY, 2024, 6, 5, 8, 0), NINE_TO_FIVE, TOLL_FREE, None, ORG_TZ)
    assert p.zones == (ORG_TZ,)
    assert p.send_at == at(NY, 2024, 6, 5, 9, 0)
    assert "so the clinic's time zone (America/New_York) is used" in p.reason


def test_unknown_zone_uses_the_org_zone():
    assert patient_zones(None, None, "America/Denver") == ("America/Denver",)
    assert patient_zones("+15555550123", None, "America/Denver") == ("America/Denver",)
    assert patient_zones("not a number", None, "America/Denver") == ("America/Denver",)
    p = place(at(DEN, 2024, 6, 5, 7, 0), DEFAULT_WINDOW, None, None, "America/Denver")
    assert p.send_at == at(DEN, 2024, 6, 5, 8, 0)


def test_unknown_org_zone_is_refused():
    with pytest.raises(ValueError, match="not a known time zone"):
        place(at(NY, 2024, 6, 5, 12), DEFAULT_WINDOW, NEW_YORK_CITY, None, "Eastern")


# --- DST ------------------------------------------------------------------------------------


def test_spring_forward_night_is_an_hour_shorter():
    # Saturday 2024-03-09 22:30 EST (UTC-5) -> Sunday 08:00 EDT (UTC-4): 8:30 real hours.
    now = datetime(2024, 3, 10, 3, 30, tzinfo=UTC)
    assert now.astimezone(NY).hour == 22
    p = place_default(now, NEW_YORK_CITY)
    assert p.send_at == datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    assert p.send_at.astimezone(NY).time() == time(8, 0)
    assert "8:30 from now" in p.reason


def test_window_start_inside_the_spring_forward_gap_opens_when_the_clock_jumps():
    # 02:30 does not exist on 2024-03-10 in New York: the clock goes 01:59:59 -> 03:00,
    # so the first instant at or after 02:30 local is 03:00 EDT = 07:00 UTC.
    window = Window(time(2, 30), time(21))
    now = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 01:00 EST
    p = place(now, window, NEW_YORK_CITY, None, ORG_TZ)
    assert p.send_at == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    assert place(p.send_at, window, NEW_YORK_CITY, None, ORG_TZ).allowed


def test_fall_back_repeated_hour_is_judged_by_the_local_clock():
    # 2024-11-03: 01:00–01:59 happens twice in New York (EDT, then EST).
    window = Window(time(1, 45), time(21))
    first_time_round = datetime(2024, 11, 3, 5, 50, tzinfo=UTC)  # 01:50 EDT
    assert place(first_time_round, window, NEW_YORK_CITY, None, ORG_TZ).allowed
    p = place(datetime(2024, 11, 3, 6, 10, tzinfo=UTC), window, NEW_YORK_CITY, None, ORG_TZ)
    assert not p.allowed  # 01:10 EST, the second time round
    assert p.send_at == datetime(2024, 11, 3, 6, 45, tzinfo=UTC)  # 01:45 EST


# --- Inputs -------------------------------------------------------------------------------


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        place(datetime(2024, 6, 5, 12, 0), DEFAULT_WINDOW, NEW_YORK_CITY, None, ORG_TZ)


# --- Properties ---------------------------------------------------------------------------

# Independent of the module: the expected window by state and weekday (Monday = 0), in
# minutes of the day, written out from the rules rather than read from the code.
_RULE_MINUTES: dict[str, list[tuple[int, int]]] = {
    **{s: [(8 * 60, 20 * 60)] * 7 for s in ("FL", "MD", "MS", "NJ", "OK")},
    "CT": [(9 * 60, 20 * 60)] * 7,
    "TX": [(9 * 60, 21 * 60)] * 6 + [(12 * 60, 21 * 60)],
    "RI": [(9 * 60, 18 * 60)] * 5 + [(10 * 60, 17 * 60)] * 2,
}
_NUMBERS: dict[str | None, str | None] = {
    None: None,
    NEW_YORK_CITY: None,
    MIAMI: "FL",
    DALLAS: "TX",
    "+19155550123": "TX",  # El Paso, Mountain time
    PROVIDENCE: "RI",
    HARTFORD: "CT",
    "+14155550123": None,
    NORTH_DAKOTA: None,
    TOLL_FREE: None,
    "+442071234567": None,
    "+15555550123": None,  # not in service: no zone
}
_ORG_WINDOWS = [
    DEFAULT_WINDOW,
    NINE_TO_FIVE,
    Window(time(7), time(22)),
    Window(time(12), time(13)),
    Window(time(10, 15), time(19, 45)),
]


def _inside(instant: datetime, zone: str, org: Window, state: str | None) -> bool:
    # Via UTC: astimezone() into the instant's own zone would return a nonexistent
    # (spring-forward) wall time unchanged instead of the clock actually showing.
    local = instant.astimezone(UTC).astimezone(ZoneInfo(zone))
    start = org.start.hour * 60 + org.start.minute
    end = org.end.hour * 60 + org.end.minute
    if state is not None:
        s, e = _RULE_MINUTES[state][local.weekday()]
        start, end = max(start, s), min(end, e)
    minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    return start <= minute < end


def _inside_all(instant: datetime, zones: tuple[str, ...], org: Window, state: str | None) -> bool:
    return all(_inside(instant, z, org, state) for z in zones)


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2030, 12, 31),
        timezones=st.sampled_from([UTC, NY, CHI, LA, ZoneInfo("Asia/Tokyo")]),
    ),
    e164=st.sampled_from(list(_NUMBERS)),
    explicit_tz=st.sampled_from([None, None, "America/Chicago", "Pacific/Honolulu"]),
    org_window=st.sampled_from(_ORG_WINDOWS),
    org_tz=st.sampled_from(["America/New_York", "America/Denver"]),
)
def test_placement_properties(now, e164, explicit_tz, org_window, org_tz):
    p = place(now, org_window, e164, explicit_tz, org_tz)
    state = _NUMBERS[e164]
    assert p.state == state
    if explicit_tz is not None:
        assert p.zones == (explicit_tz,)
    # Never in the past, and inside the window in every zone, by independent arithmetic.
    assert p.send_at >= now
    assert _inside_all(p.send_at, p.zones, org_window, state)
    if p.allowed:
        assert p.send_at is now
    else:
        assert p.send_at > now
        assert p.send_at - now <= timedelta(days=8)
        # The earliest such instant: just before it, some zone was still outside.
        assert not _inside_all(p.send_at - timedelta(microseconds=1), p.zones, org_window, state)
        assert p.reason.startswith(("Held for the send window", "The number could be in"))
    # Placing it again at send_at lets it go.
    again = place(p.send_at, org_window, e164, explicit_tz, org_tz)
    assert again.allowed
    assert again.send_at == p.send_at
