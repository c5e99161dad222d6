"""Pure parts of the detection search: plate folding and one-edit neighbourhoods, search tags,
filter validation, the audit criteria (never the plate), cursors and polygons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive.errors import InvalidSearch
from archive.plates import fold_plate, one_edit, plate_tag
from archive.search import SearchFilter, decode_cursor, encode_cursor, inside

PEPPER = b"unit-pepper-0123456789"


def test_cyrillic_look_alikes_fold_to_latin() -> None:
    cyrillic = "\u0430 123 \u0432\u0441-02"  # lower-case Cyrillic a, ve, es
    assert fold_plate(cyrillic) == fold_plate("A123BC02") == "A123BC02"
    all_twelve = "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425"
    assert fold_plate(all_twelve) == "ABEKMHOPCTYX"


def test_one_edit_neighbourhood() -> None:
    near = one_edit("A1")
    assert {"A1", "A2", "B1", "A", "1", "XA1", "A1X", "AX1"} <= near
    assert "B2" not in near and "" not in near
    assert len(one_edit("A123BC02")) < 700


def test_tags_are_keyed_and_never_the_plate() -> None:
    tag = plate_tag(PEPPER, "A123BC02")
    assert len(tag) == 32 and "A123BC02" not in tag
    assert tag != plate_tag(b"another-pepper-0123456", "A123BC02")
    f = SearchFilter(plate="\u0410 123 \u0412\u0421 02").checked(PEPPER)
    assert f.plate_tags == (tag,)
    assert len(SearchFilter(plate="A123BC02", fuzzy=True).checked(PEPPER).plate_tags) > 500


@pytest.mark.parametrize(("bad", "field"), [
    (SearchFilter(kinds=("unicorn",)), "kinds"), (SearchFilter(colours=("teal",)), "colours"),
    (SearchFilter(vehicle_type="tank"), "vehicleType"), (SearchFilter(plate="-"), "plate"),
    (SearchFilter(polygon=((1.0, 2.0), (3.0, 4.0))), "polygon"),
    (SearchFilter(start=datetime(2026, 1, 2, tzinfo=UTC), end=datetime(2026, 1, 1, tzinfo=UTC)),
     "from"), (SearchFilter(start=datetime(2026, 1, 2)), "from")])  # noqa: DTZ001 (the point)
def test_bad_filters_name_their_field(bad: SearchFilter, field: str) -> None:
    with pytest.raises(InvalidSearch, match=field):
        bad.checked(PEPPER)


def test_criteria_say_how_a_plate_was_searched_never_which() -> None:
    criteria = SearchFilter(plate="A123BC02", fuzzy=True, colours=("red",)).criteria()
    assert criteria["plate"] == "fuzzy" and criteria["colours"] == ["red"]
    assert "A123BC02" not in repr(criteria)


def test_cursor_round_trip_and_refusal() -> None:
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    ident = "00000000-0000-0000-0000-000000000007"
    assert decode_cursor(encode_cursor(at, ident)) == (at, ident)
    with pytest.raises(InvalidSearch, match="after"):
        decode_cursor("not-a-cursor")


def test_point_in_polygon() -> None:
    square = ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0))
    assert inside(0.5, 0.5, square) and not inside(1.5, 0.5, square)
