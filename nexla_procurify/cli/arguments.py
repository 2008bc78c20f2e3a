"""The command line's arguments: the parser, and the source or destination configuration that
``--config FILE`` and the flags give together."""

from __future__ import annotations

__all__ = ["DESTINATION_FLAGS", "SOURCE_FLAGS", "destination_config", "parser", "source_config"]

import argparse
from pathlib import Path
from typing import Any

from nexla_procurify import __version__, jsonlines
from nexla_procurify.cli.inputs import ENV_FIELDS, load_json_object
from nexla_procurify.errors import ConfigurationError

# The flags that set a configuration key of the same name (dashes for underscores).
SOURCE_FLAGS = ("page_size", "concurrency", "start_date", "role", "status")
DESTINATION_FLAGS = ("operation", "key", "dry_run", "concurrency", "on_error")


def parser() -> argparse.ArgumentParser:
    """The parser; ``args.command`` names the command to run."""
    parser = argparse.ArgumentParser(
        prog="nexla-procurify",
        description="Procurify connector: check credentials, run the sandbox, read and write.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log HTTP activity")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("spec", help="print the credential JSON Schema")

    check = commands.add_parser("check", help="validate a credential (--live: also sign in)")
    _credential_option(check)
    check.add_argument(
        "--live", action="store_true", help="exchange a token and call GET /api/v3/users/me"
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")

    sandbox = commands.add_parser("sandbox", help="run the embedded Procurify sandbox")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--token-lifetime", type=float, default=86400.0, metavar="SECONDS")
    sandbox.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="added to every answer"
    )
    sandbox.add_argument(
        "--records", type=int, default=25, metavar="N", help="seeded records per resource"
    )
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    sandbox.add_argument(
        "--rate-limit",
        type=float,
        metavar="RPS",
        help="answer 429 with Retry-After beyond RPS API requests per second",
    )
    sandbox.add_argument(
        "--max-at-once",
        type=int,
        metavar="N",
        help="answer 429 with Retry-After beyond N API requests at once",
    )
    sandbox.add_argument(
        "--write-credential",
        type=Path,
        metavar="FILE",
        help="write a credential for this sandbox to FILE (mode 0600)",
    )

    commands.add_parser("discover", help="print every resource as a SCHEMA message")

    read = commands.add_parser("read", help="read a resource as Singer JSON lines")
    read.add_argument("resource", help="resource to read, e.g. vendors (see discover)")
    _credential_option(read)
    read.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="source configuration JSON (flags below override it)",
    )
    read.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Procurify filter of the resource (repeatable)",
    )
    read.add_argument("--page-size", type=int)
    read.add_argument("--concurrency", type=_concurrency, metavar="auto|N")
    read.add_argument("--start-date", metavar="DATE", help="incremental resources: first run")
    read.add_argument("--role", help="purchase_orders: purchased or receivable")
    read.add_argument(
        "--status", help="purchase_orders: all, open, partial, closed, cancelled, paid"
    )
    read.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="state from an earlier run (its last STATE value)",
    )
    read.add_argument("--limit", type=int, metavar="N", help="stop after N records")

    write = commands.add_parser("write", help="write JSON-lines records into a resource")
    write.add_argument("resource", help="resource to write, e.g. vendors")
    write.add_argument(
        "input",
        nargs="?",
        type=Path,
        metavar="FILE",
        help="JSON lines, one record per line (default: standard input)",
    )
    _credential_option(write)
    write.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="destination configuration JSON (flags below override it)",
    )
    write.add_argument(
        "--operation",
        help="create, update, patch, upsert, revise, close, "
        "reopen, deactivate (what the resource supports)",
    )
    write.add_argument("--key", help="upsert key, e.g. external_id")
    write.add_argument(
        "--dry-run", action="store_true", default=None, help="validate and report, write nothing"
    )
    write.add_argument("--concurrency", type=_concurrency, metavar="auto|N")
    write.add_argument("--on-error", choices=("continue", "abort"))
    write.add_argument(
        "--max-line-bytes",
        type=int,
        default=jsonlines.MAX_LINE_BYTES,
        metavar="N",
        help="largest input line; a longer one is rejected, "
        f"not read (default {jsonlines.MAX_LINE_BYTES}, 16 MiB; at most 1 GiB)",
    )

    commands.add_parser("demo", help="run the connector against an in-process sandbox")
    return parser


def _credential_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credential",
        type=Path,
        metavar="FILE",
        help="credential JSON file; without it the PROCURIFY_* environment variables are used "
        f"({', '.join(ENV_FIELDS.values())})",
    )


def _config(args: argparse.Namespace, flags: tuple[str, ...]) -> dict[str, Any]:
    """``--config FILE`` with the resource argument and the flags given laid over it."""
    config: dict[str, Any] = load_json_object(args.config, "config") if args.config else {}
    config["resource"] = args.resource
    config.update({key: getattr(args, key) for key in flags if getattr(args, key) is not None})
    return config


def destination_config(args: argparse.Namespace) -> dict[str, Any]:
    """The destination configuration of ``write`` (not yet checked)."""
    return _config(args, DESTINATION_FLAGS)


def source_config(args: argparse.Namespace) -> dict[str, Any]:
    """The source configuration of ``read`` (not yet checked), ``--filter`` included."""
    config = _config(args, SOURCE_FLAGS)
    if args.filter:
        filters = dict(config.get("filters") or {})
        given: dict[str, list[str]] = {}
        for item in args.filter:
            name, sep, raw = item.partition("=")
            if not sep or not name:
                raise ConfigurationError(f"--filter takes NAME=VALUE, got {item!r}")
            given.setdefault(name, []).append(raw)
        # Typed by the resource's filter definition; a name given again is a list
        # (``--filter locations=1 --filter locations=2``), which only list filters accept.
        filters.update({name: raws[0] if len(raws) == 1 else raws for name, raws in given.items()})
        config["filters"] = filters
    return config


def _concurrency(text: str) -> int | str:
    """``--concurrency``: ``auto``, or a whole number (its range checked with the
    configuration)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes auto or a whole number, not {text!r}") from None
