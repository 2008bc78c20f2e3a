"""The ``nexla-procurify`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from nexla_procurify import __version__, plugin
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV, credential_schema
from nexla_procurify.errors import ConfigurationError, CredentialError, ProcurifyError
from nexla_procurify.host import Host
from nexla_procurify.http import json_body, raise_for_response
from nexla_procurify.messages import ValidationResult
from nexla_procurify.sandbox import Sandbox

CONNECTOR = plugin.CONNECTOR_TYPE
ENV_FIELDS = {
    "name": "PROCURIFY_CREDENTIAL_NAME",
    "description": "PROCURIFY_DESCRIPTION",
    "client_id": "PROCURIFY_CLIENT_ID",
    "client_secret": "PROCURIFY_CLIENT_SECRET",
    "base_url": "PROCURIFY_BASE_URL",
}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.run(args)
    except CredentialError as error:
        _fail("the credential is not valid:")
        for field, message in error.errors:
            print(f"  {field or 'credential'}: {message}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigurationError as error:
        _fail(error.message)
        return EXIT_USAGE
    except ProcurifyError as error:
        _fail(error.message)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return code


def _fail(message: str) -> None:
    print(f"nexla-procurify: error: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexla-procurify",
        description="Procurify connector: check credentials, run the sandbox, read and write.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log HTTP activity")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    spec = commands.add_parser("spec", help="print the credential JSON Schema")
    spec.set_defaults(run=_spec)

    check = commands.add_parser("check", help="validate a credential (--live: also sign in)")
    _credential_option(check)
    check.add_argument("--live", action="store_true",
                       help="exchange a token and call GET /api/v3/users/me")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(run=_check)

    sandbox = commands.add_parser("sandbox", help="run the embedded Procurify sandbox")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--token-lifetime", type=float, default=86400.0, metavar="SECONDS")
    sandbox.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                         help="added to every answer")
    sandbox.add_argument("--write-credential", type=Path, metavar="FILE",
                         help="write a credential for this sandbox to FILE (mode 0600)")
    sandbox.set_defaults(run=_sandbox)

    demo = commands.add_parser("demo", help="run the connector against an in-process sandbox")
    demo.set_defaults(run=_demo)
    return parser


def _credential_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credential",
        type=Path,
        metavar="FILE",
        help="credential JSON file; without it the PROCURIFY_* environment variables are used "
        f"({', '.join(ENV_FIELDS.values())})",
    )


def load_credential(path: Path | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The credential from a JSON file, or else from ``PROCURIFY_*`` environment variables."""
    if path is not None:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigurationError(f"cannot read credential file {path}: {error.strerror}") \
                from error
        except ValueError as error:
            raise ConfigurationError(f"credential file {path} is not valid JSON") from error
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"credential file {path} must hold a JSON object")
        return loaded
    env = os.environ if environ is None else environ
    found = {field: env[name] for field, name in ENV_FIELDS.items() if env.get(name)}
    if not found:
        raise ConfigurationError(
            "no credential given: pass --credential FILE or set "
            + ", ".join(ENV_FIELDS[field] for field in ("client_id", "client_secret", "base_url"))
        )
    found.setdefault("name", "Procurify")
    return found


def _host() -> Host:
    return Host(plugins=[plugin])


def _spec(args: argparse.Namespace) -> int:
    print(json.dumps(credential_schema(), indent=2))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    credential = load_credential(args.credential)
    result: ValidationResult = _host().validate_credential(CONNECTOR, credential, live=args.live)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        print("Credential is valid" + (" and Procurify accepted it." if args.live else "."))
    else:
        _print_validation(result, sys.stdout)
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_validation(result: ValidationResult, out: TextIO) -> None:
    print("Credential is not valid:", file=out)
    for error in result.errors:
        print(f"  {error.field or 'credential'}: {error.message}", file=out)


def _sandbox(args: argparse.Namespace) -> int:
    sandbox = Sandbox(port=args.port, token_lifetime=args.token_lifetime, latency=args.latency)
    with sandbox:
        print(f"Procurify sandbox listening on {sandbox.base_url}")
        if args.write_credential:
            _write_private(args.write_credential, json.dumps(sandbox.credential(), indent=2))
            print(f"Credential written to {args.write_credential}")
            print(f"Use it with {ALLOW_LOOPBACK_ENV}=1, e.g.:")
            print(f"  {ALLOW_LOOPBACK_ENV}=1 nexla-procurify check --live "
                  f"--credential {args.write_credential}")
        else:
            print(f"Client ID: {sandbox.client_id} (pass --write-credential FILE for the secret)")
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    return EXIT_OK


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _demo(args: argparse.Namespace) -> int:
    os.environ[ALLOW_LOOPBACK_ENV] = "1"  # this process is the host; the sandbox is loopback
    host = _host()
    with Sandbox() as sandbox:
        print(f"Started the Procurify sandbox at {sandbox.base_url}")
        credential = sandbox.credential("Demo credential")
        result = host.validate_credential(CONNECTOR, credential, live=True)
        if not result.ok:
            _print_validation(result, sys.stderr)
            return EXIT_FAILED
        print("Credential validated and accepted by Procurify (token exchanged).")
        with host.authenticate(CONNECTOR, credential) as session:
            response = session.get("/api/v3/users/me")
            raise_for_response(response, "read the API user")
            me = json_body(response, "read the API user")["data"]
            print(f"Authenticated as {me['firstName']} {me['lastName']} <{me['email']}>, "
                  f"user id {me['id']}.")
        print("Demo finished.")
    return EXIT_OK
