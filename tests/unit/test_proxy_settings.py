"""The trusted proxy hops (PROXY_FIX_X_*) and the sweep interval: read, checked, turned into ProxyFix's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailroom import config as settings
from mailroom.config import ConfigError

KEYS = ("PROXY_FIX_X_FOR", "PROXY_FIX_X_PROTO", "PROXY_FIX_X_HOST", "PROXY_FIX_X_PORT", "PROXY_FIX_X_PREFIX")


def test_no_proxy_is_trusted_by_default(tmp_path: Path) -> None:
    loaded = settings.load(None, {}, str(tmp_path))
    assert [loaded[key] for key in KEYS] == [0] * 5
    assert settings.proxy_fix_hops(loaded) == {}
    assert loaded["SWEEP_INTERVAL"] == 600


def test_hops_are_read_from_the_environment(tmp_path: Path) -> None:
    loaded = settings.load(None, {"PROXY_FIX_X_FOR": "2", "PROXY_FIX_X_PROTO": " 1 "}, str(tmp_path))
    assert settings.proxy_fix_hops(loaded) == {"x_for": 2, "x_proto": 1, "x_host": 0, "x_port": 0,
                                               "x_prefix": 0}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(("value", "says"), [("-1", "0 or more"), ("one", "not a whole number"),
                                             ("1.5", "not a whole number"), ("", "not a whole number")])
def test_a_bad_number_of_hops_refuses_start_up_naming_the_key(tmp_path: Path, key: str, value: str,
                                                              says: str) -> None:
    with pytest.raises(ConfigError, match=key) as refused:
        settings.load(None, {key: value}, str(tmp_path))
    assert says in str(refused.value)


@pytest.mark.parametrize("value", [-1, "1", True, 1.0, None])
def test_the_factory_mapping_is_checked_too(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError, match="PROXY_FIX_X_FOR must be the number of proxies"):
        settings.load({"PROXY_FIX_X_FOR": value}, {}, str(tmp_path))


@pytest.mark.parametrize("value", ["-5", "soon"])
def test_a_bad_sweep_interval_refuses_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="SWEEP_INTERVAL"):
        settings.load(None, {"SWEEP_INTERVAL": value}, str(tmp_path))
