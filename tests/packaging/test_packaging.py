"""The built wheel: a host that installed it (not editable), from another folder, finds the
plugin by entry point, its manifest and its schemas.

The wheel is built with ``pip wheel`` (pip fetches hatchling, the build backend, from the
package index) and unpacked into an empty folder, as an installer would. A fresh interpreter
then runs with only that folder and the dependencies on ``sys.path``: no site processing (so no
editable-install hook), no repository checkout, and none of the installed copy's files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from shared import REPO

import nexla_procurify

PACKAGE = "nexla_procurify"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"building the wheel failed:\n{done.stdout}\n{done.stderr}"
    built = sorted(out.glob("nexla_procurify-*.whl"))
    assert len(built) == 1, built
    return built[0]


def test_wheel_ships_the_manifest_and_schemas(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"{PACKAGE}/connector.json" in names
    assert f"{PACKAGE}/schemas/credential.schema.json" in names
    contract = zipfile.ZipFile(wheel).read(f"{PACKAGE}/contract/procurify.json")
    assert contract == (REPO / "contract" / "procurify.json").read_bytes()
    manifest = json.loads(zipfile.ZipFile(wheel).read(f"{PACKAGE}/connector.json"))
    assert manifest == json.loads((REPO / "connector.json").read_text(encoding="utf-8"))
    for resource in manifest["resources"]:
        for key in ("stream_schema",):
            if key in resource:
                assert f"{PACKAGE}/{resource[key]}" in names, resource[key]
        for operation in resource.get("operations", {}).values():
            if "request_schema" in operation:
                assert f"{PACKAGE}/{operation['request_schema']}" in names
    for relative in manifest["schemas"].values():
        if (REPO / relative).exists():
            assert f"{PACKAGE}/{relative}" in names, relative
    shipped = {n for n in names if n.startswith(f"{PACKAGE}/schemas/")}
    in_repo = {
        f"{PACKAGE}/{p.relative_to(REPO).as_posix()}" for p in (REPO / "schemas").rglob("*.json")
    }
    assert in_repo <= shipped
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[nexla.connectors]" in text
    assert "procurify = nexla_procurify.plugin" in text
    assert "nexla-procurify = nexla_procurify.cli:main" in text


HOST_SCRIPT = r"""
import importlib.metadata, importlib.resources, json, sys
from pathlib import Path

installed = Path(sys.argv[1]).resolve()
found = [ep for ep in importlib.metadata.entry_points(group="nexla.connectors")]
assert [ep.name for ep in found] == ["procurify"], found
origin = Path(found[0].dist.locate_file("")).resolve()

from nexla_procurify.host import Host
import nexla_procurify, nexla_procurify.plugin

host = Host()  # loads plugins by entry point, as a real host does
package = importlib.resources.files("nexla_procurify")
from nexla_procurify import manifest
credential = {"name": "n", "client_id": "c", "client_secret": "s" * 20,
              "base_url": "https://acme.procurify.com"}
print(json.dumps({
    "dist_origin": str(origin),
    "package_file": str(Path(nexla_procurify.__file__).resolve()),
    "connector_types": host.connector_types(),
    "registered": host.plugin_manager.get_plugin("procurify") is nexla_procurify.plugin,
    "connector_json": package.joinpath("connector.json").is_file(),
    "credential_schema": package.joinpath("schemas", "credential.schema.json").is_file(),
    "asset_root": str(manifest.asset_root()),
    "vendors_schema_type": manifest.schema("streams/vendors.json").get("type"),
    "credential_ok": host.validate_credential("procurify", credential).ok,
    "version": importlib.metadata.version("nexla-procurify"),
}))
"""


def dependency_path(tmp_path: Path) -> Path:
    """The environment's installed packages, minus any copy of this project."""
    site = Path(sysconfig.get_paths()["purelib"])
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in site.iterdir():
        lowered = entry.name.lower()
        if "nexla_procurify" in lowered or "nexla-procurify" in lowered or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    return deps


def test_a_host_finds_the_installed_wheel_by_entry_point(wheel: Path, tmp_path: Path) -> None:
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    deps = dependency_path(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(installed), str(deps)])
    done = subprocess.run(
        [sys.executable, "-S", "-c", HOST_SCRIPT, str(installed)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=elsewhere,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    root = str(installed.resolve())
    assert report["dist_origin"] == root
    assert report["package_file"].startswith(root)
    assert report["connector_types"] == ["procurify"]
    assert report["registered"] is True
    assert report["connector_json"] is True
    assert report["credential_schema"] is True
    assert report["asset_root"].startswith(root)
    assert report["asset_root"].endswith(PACKAGE)
    assert report["vendors_schema_type"] == "object"
    assert report["credential_ok"] is True
    assert report["version"] == nexla_procurify.__version__
    assert str(REPO) not in done.stdout


def test_wheel_is_typed_and_offers_the_sandbox_as_a_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as built:
        names = set(built.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        entry_points = built.read(f"{info}/entry_points.txt").decode()
        metadata = built.read(f"{info}/METADATA").decode()
    assert f"{PACKAGE}/py.typed" in names
    assert f"{PACKAGE}/pytest_plugin.py" in names
    assert "[pytest11]" in entry_points
    assert "procurify_sandbox = nexla_procurify.pytest_plugin" in entry_points
    assert f"\nVersion: {nexla_procurify.__version__}\n" in metadata
