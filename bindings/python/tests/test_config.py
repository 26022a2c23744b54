"""Configuration from the environment: regions case-insensitive, unknown ones refused."""

from __future__ import annotations

import pytest

import agora_link
from agora_link import AgoraLinkError, FailureKind, Region

BASE = {"AGORA_LINK_CLIENT_ID": "id", "AGORA_LINK_CLIENT_SECRET": "secret"}


@pytest.mark.parametrize(
    "value, region",
    [
        ("na", Region.NORTH_AMERICA), ("NA", Region.NORTH_AMERICA), ("Na", Region.NORTH_AMERICA),
        ("north-america", Region.NORTH_AMERICA), ("cn", Region.CHINA), ("CN", Region.CHINA),
        ("china", Region.CHINA), ("", Region.CHINA), (None, Region.CHINA),
    ],
)
def test_regions_are_case_insensitive(value, region):
    assert agora_link.region_from_name(value or "cn") == region
    env = dict(BASE) if value is None else {**BASE, "AGORA_LINK_REGION": value}
    text = repr(agora_link.config_from_env(env))
    assert ("region=Region.NORTH_AMERICA" if region == Region.NORTH_AMERICA else "region=Region.CHINA") in text
    assert "secret" not in text.replace("client_secret", "")


@pytest.mark.parametrize("value", ["eu", "EU", "us", "cn-north-1", "nа"])  # the last has a Cyrillic а
def test_an_unknown_region_is_an_error_naming_the_accepted_values(value):
    with pytest.raises(AgoraLinkError) as caught:
        agora_link.config_from_env({**BASE, "AGORA_LINK_REGION": value})
    assert caught.value.kind == FailureKind.CONFIG
    assert '"cn"' in caught.value.reason and '"na"' in caught.value.reason
