"""NodeConfig and destinations: every bad option is a one-line InputError."""

from __future__ import annotations

from pathlib import Path

import pytest

from meddenoise.errors import InputError
from meddenoise.node.config import (
    Destination,
    NodeConfig,
    check_ae_title,
    parse_destination,
    public_url,
)

PACS = Destination("pacs", 104, "PACS")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pacs:104:PACS", PACS),
        ("10.0.0.7:11112:ORTHANC", Destination("10.0.0.7", 11112, "ORTHANC")),
        ("[fe80::1]:4242:X", Destination("fe80::1", 4242, "X")),
        ("pacs:104: PACS ", PACS),
    ],
)
def test_destinations_parse(text, expected):
    assert parse_destination(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pacs", "expected HOST:PORT:AET"),
        ("pacs:104", "expected HOST:PORT:AET"),
        (":104:PACS", "expected HOST:PORT:AET"),
        ("pacs:104:", "expected HOST:PORT:AET"),
        ("pacs:http:PACS", "port 'http' is not 1 to 65535"),
        ("pacs:0:PACS", "port '0' is not 1 to 65535"),
        ("pacs:70000:PACS", "port '70000' is not 1 to 65535"),
        ("pacs:104:WAY_TOO_LONG_AE_TITLE", "1 to 16 printable ASCII"),
        ("pacs:104:A\\B", "no backslash"),
    ],
)
def test_bad_destinations_are_one_line_input_errors(text, message):
    with pytest.raises(InputError, match=message) as info:
        parse_destination(text)
    assert "\n" not in str(info.value)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("title", ["", "   ", "A" * 17, "BAD\tTAB", "ÄÖ"])
def test_bad_ae_titles(title):
    with pytest.raises(InputError):
        check_ae_title(title)


def test_defaults_and_normalisation():
    config = NodeConfig("spool", forward=[PACS], allow_calling=(" CT1 ", "MR2"))
    assert config.storage == Path("spool")
    assert config.forward == (PACS,)
    assert config.allow_calling == ("CT1", "MR2")
    assert (config.host, config.port, config.ae_title) == ("0.0.0.0", 11112, "MEDDENOISE")
    assert config.stable_seconds == 10.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "nowhere to send results"),
        ({"stow_url": "ftp://pacs/dicom-web"}, "expected http"),
        ({"forward": (PACS,), "port": 70000}, "port 70000"),
        ({"forward": (PACS,), "stable_seconds": -1}, "stable_seconds"),
        ({"forward": (PACS,), "retry_initial": 10, "retry_max": 5}, "retry_max"),
        ({"forward": (PACS,), "threads": 0}, "threads"),
        ({"forward": (PACS,), "ae_title": ""}, "AE title"),
        ({"forward": (PACS,), "allow_calling": ("OK", "X" * 20)}, "calling AE title"),
    ],
)
def test_bad_configurations(options, message):
    with pytest.raises(InputError, match=message):
        NodeConfig(Path("spool"), **options)


def test_retry_delay_doubles_up_to_the_maximum():
    config = NodeConfig("s", forward=(PACS,), retry_initial=2, retry_max=30)
    assert [config.retry_delay(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert config.retry_delay(10_000) == 30


def test_public_urls_lose_their_credentials():
    assert public_url("http://u:p@h:8042/dicom-web") == "http://h:8042/dicom-web"
    assert public_url("https://h/x") == "https://h/x"
