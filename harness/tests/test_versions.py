import pytest

from bindmatrix.versions import VersionError, compare_versions, parse_range, parse_release


@pytest.mark.parametrize("release, expected", [
    ("6.18.44-fc-v769", (6, 18, 44)),
    ("6.1.0-18-amd64", (6, 1, 0)),
    ("14.1-RELEASE-p3", (14, 1)),
    ("23.5.0", (23, 5, 0)),
    ("7.5", (7, 5)),
    ("5", (5,)),
])
def test_parse_release(release, expected):
    assert parse_release(release) == expected


@pytest.mark.parametrize("bad", ["", "linux", "-6.1", "v6.1"])
def test_parse_release_rejects(bad):
    with pytest.raises(VersionError, match="dotted version"):
        parse_release(bad)


def test_missing_components_are_zero():
    assert compare_versions((6, 1), (6, 1, 0)) == 0
    assert compare_versions((6, 1, 1), (6, 1)) == 1
    assert compare_versions((4, 19), (5,)) == -1


@pytest.mark.parametrize("text, release, inside", [
    (">=4.6,<6.1", "4.6.0-1-amd64", True),
    (">=4.6,<6.1", "6.0.19", True),
    (">=4.6,<6.1", "6.1", False),
    (">=4.6,<6.1", "4.5.7", False),
    (">3.9", "3.9", False),
    (">3.9", "3.9.1", True),
    ("<=5.10", "5.10.200", False),
    ("<=5.10", "5.10", True),
    ("==6.1", "6.1.0-18-amd64", True),
    ("!=6.1", "6.1.0", False),
    (" >= 5.4 , < 5.5 ", "5.4.3", True),
    ("==14.1", "14.1-RELEASE-p3", True),
])
def test_range_contains(text, release, inside):
    assert parse_range(text).contains(release) is inside


@pytest.mark.parametrize("text, message", [
    ("4.6", "must start with one of"),
    ("=>4.6", "must start with one of"),
    (">=4.6,,<6", "clause 2 is empty"),
    (">=4.x", "not a dotted version"),
    (">=", "not a dotted version"),
    ("<<4", "malformed operator"),
    ("", "empty range"),
    (4.6, "must be a string"),
])
def test_range_errors(text, message):
    with pytest.raises(VersionError, match=message):
        parse_range(text)
