"""Configuration, credential, state and catalog files are read up to a bound
(``cli.inputs.MAX_FILE_BYTES``): a larger one, or one without end (``/dev/zero``), is a
configuration problem naming the file and the bound, never memory without end."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from nexla_procurify import airbyte, cli, tap, target
from nexla_procurify.cli.inputs import MAX_FILE_BYTES, load_json_object, read_file_text
from nexla_procurify.errors import ConfigurationError

ENDLESS = "/dev/zero"  # read with the bound it ends; without, it never would
CREDENTIAL = {
    "name": "Acme",
    "client_id": "abc",
    "client_secret": "s3cr3t-for-bounded-files",
    "base_url": "https://acme.procurify.com",
}
Main = Callable[[Sequence[str]], int]


def test_a_file_larger_than_the_bound_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"note": "x" * 100}))
    with pytest.raises(ConfigurationError) as refused:
        load_json_object(path, "config", limit=64)
    assert refused.value.message == (
        f"config file {path} is larger than 64 bytes, the most read: "
        "give a config file of at most that size."
    )
    assert refused.value.__cause__ is None
    exactly = tmp_path / "exact.json"
    exactly.write_text("{}" + " " * 62)
    assert load_json_object(exactly, "config", limit=64) == {}


@pytest.mark.skipif(not Path(ENDLESS).exists(), reason="needs /dev/zero")
def test_a_file_without_end_is_read_only_up_to_the_bound() -> None:
    with pytest.raises(ConfigurationError, match="larger than 16 MiB"):
        read_file_text(Path(ENDLESS), "credential")
    assert MAX_FILE_BYTES == 16 * 1024 * 1024


@pytest.mark.skipif(not Path(ENDLESS).exists(), reason="needs /dev/zero")
@pytest.mark.parametrize(
    ("main", "argv", "status"),
    [
        (cli.main, ["check", "--credential", ENDLESS], 2),
        (cli.main, ["read", "vendors", "--credential", "CONFIG", "--state", ENDLESS], 2),
        (tap.main, ["--config", ENDLESS], 2),
        (tap.main, ["--config", "CONFIG", "--catalog", ENDLESS], 2),
        (tap.main, ["--config", "CONFIG", "--state", ENDLESS], 2),
        (target.main, ["--config", ENDLESS], 2),
        (airbyte.main, ["check", "--config", ENDLESS], 0),  # a FAILED connection status
        (airbyte.main, ["read", "--config", "CONFIG", "--catalog", ENDLESS], 2),
        (
            airbyte.main,
            ["read", "--config", "CONFIG", "--catalog", "CATALOG", "--state", ENDLESS],
            2,
        ),
    ],
)
def test_every_script_refuses_a_file_without_end(
    main: Main,
    argv: list[str],
    status: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CREDENTIAL))
    catalog = tmp_path / "catalog.json"
    stream = {"name": "vendors", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
    catalog.write_text(
        json.dumps(
            {
                "streams": [
                    {
                        "stream": stream,
                        "sync_mode": "full_refresh",
                        "destination_sync_mode": "append",
                    }
                ]
            }
        )
    )
    given = [{"CONFIG": str(config), "CATALOG": str(catalog)}.get(each, each) for each in argv]
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # a script may replace it: restored after
    assert main(given) == status
    said = capsys.readouterr()
    assert f"{ENDLESS} is larger than 16 MiB" in said.out + said.err
