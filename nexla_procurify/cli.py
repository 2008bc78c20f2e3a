"""The ``nexla-procurify`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO, get_args

from nexla_procurify import __version__, destination, jsonlines, plugin, source
from nexla_procurify.credential import ALLOW_LOOPBACK_ENV, credential_schema
from nexla_procurify.errors import ConfigurationError, CredentialError, ProcurifyError
from nexla_procurify.host import Host
from nexla_procurify.http import json_body, raise_for_response
from nexla_procurify.messages import Record, ValidationResult, WriteStatus
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
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
EXIT_TERMINATED = 143  # 128 + SIGTERM
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WRITE_STATUSES: tuple[str, ...] = get_args(WriteStatus)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The connector logs HTTP activity itself (method, path, status); urllib3 would log
    # whole URLs, whose query strings hold record values.
    logging.getLogger("urllib3").setLevel(logging.CRITICAL)
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
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, with the status a
        # Unix tool killed by SIGPIPE has, so that a script can tell output was cut short.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
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
    sandbox.add_argument("--records", type=int, default=25, metavar="N",
                         help="seeded records per resource")
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    sandbox.add_argument("--write-credential", type=Path, metavar="FILE",
                         help="write a credential for this sandbox to FILE (mode 0600)")
    sandbox.set_defaults(run=_sandbox)

    discover = commands.add_parser("discover", help="print every resource as a SCHEMA message")
    discover.set_defaults(run=_discover)

    read = commands.add_parser("read", help="read a resource as Singer JSON lines")
    read.add_argument("resource", help="resource to read, e.g. vendors (see discover)")
    _credential_option(read)
    read.add_argument("--config", type=Path, metavar="FILE",
                      help="source configuration JSON (flags below override it)")
    read.add_argument("--filter", action="append", default=[], metavar="NAME=VALUE",
                      help="a Procurify filter of the resource (repeatable)")
    read.add_argument("--page-size", type=int)
    read.add_argument("--concurrency", type=int)
    read.add_argument("--start-date", metavar="DATE", help="incremental resources: first run")
    read.add_argument("--role", help="purchase_orders: purchased or receivable")
    read.add_argument("--status",
                      help="purchase_orders: all, open, partial, closed, cancelled, paid")
    read.add_argument("--state", type=Path, metavar="FILE",
                      help="state from an earlier run (its last STATE value)")
    read.add_argument("--limit", type=int, metavar="N", help="stop after N records")
    read.set_defaults(run=_read)

    write = commands.add_parser("write", help="write JSON-lines records into a resource")
    write.add_argument("resource", help="resource to write, e.g. vendors")
    write.add_argument("input", nargs="?", type=Path, metavar="FILE",
                       help="JSON lines, one record per line (default: standard input)")
    _credential_option(write)
    write.add_argument("--config", type=Path, metavar="FILE",
                       help="destination configuration JSON (flags below override it)")
    write.add_argument("--operation", help="create, update, patch, upsert, revise, close, "
                       "reopen, deactivate (what the resource supports)")
    write.add_argument("--key", help="upsert key, e.g. external_id")
    write.add_argument("--dry-run", action="store_true", default=None,
                       help="validate and report, write nothing")
    write.add_argument("--concurrency", type=int)
    write.add_argument("--on-error", choices=("continue", "abort"))
    write.add_argument("--max-line-bytes", type=int, default=jsonlines.MAX_LINE_BYTES,
                       metavar="N", help="largest input line; a longer one is rejected, "
                       f"not read (default {jsonlines.MAX_LINE_BYTES}, 16 MiB)")
    write.set_defaults(run=_write)

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


def load_credential(path: Path | None) -> dict[str, Any]:
    """The credential from a JSON file, or else from ``PROCURIFY_*`` environment variables."""
    if path is not None:
        return _load_json_object(path, "credential")
    found = {field: os.environ[name] for field, name in ENV_FIELDS.items()
             if os.environ.get(name)}
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
    try:
        sandbox = Sandbox(port=args.port, token_lifetime=args.token_lifetime,
                          latency=args.latency, records=args.records, seed=args.seed)
    except OSError as error:
        raise ConfigurationError(
            f"cannot listen on 127.0.0.1:{args.port}: {error.strerror} (try another --port)"
        ) from error
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


def _discover(args: argparse.Namespace) -> int:
    for message in source.discover():
        print(json.dumps(message.to_dict()))
    return EXIT_OK


def _read(args: argparse.Namespace) -> int:
    config = _source_config(args)
    state = _load_state(args.state)
    credential = load_credential(args.credential)
    host = _host()
    resource = source.parse_config(config).resource
    out = sys.stdout
    progress = Progress(resource.name, sys.stderr)
    last_state: str | None = None
    try:
        with _signals(_raise_stop, "ending the read after the last page printed",
                      "resume from the last STATE line printed."), \
                host.authenticate(CONNECTOR, credential) as session, \
                _closed_after(host.read(CONNECTOR, session, config, state)) as messages:
            print(json.dumps(source.schema_message(resource).to_dict()), file=out)
            for message in messages:
                if isinstance(message, Record):
                    if args.limit is not None and progress.records >= args.limit:
                        break
                    progress.record()
                else:
                    if "in_progress" in message.value:
                        progress.page()
                line = json.dumps(message.to_dict(), separators=(",", ":")) + "\n"
                out.write(line)
                if not isinstance(message, Record):
                    last_state = line
    except _Stop as stop:
        # The last STATE line comes last, so that `tail -n 1` is where the next run resumes.
        if last_state is not None:
            out.write(last_state)
        out.flush()
        progress.finish()
        print("Interrupted: resume from the last STATE line printed (--state FILE).",
              file=sys.stderr)
        sys.stderr.flush()
        # Prefetching workers may be waiting on a slow answer; the interpreter would join them
        # at exit (up to HttpPolicy.max_elapsed). Everything owed is printed: end now.
        os._exit(128 + stop.signum)
    out.flush()
    progress.finish()
    return EXIT_OK


class _Stop(BaseException):
    """Raised in the main thread by a first SIGINT or SIGTERM during ``read``: a
    ``BaseException``, so that nothing on the way mistakes it for an error to handle."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int) -> None:
    raise _Stop(signum)


@contextlib.contextmanager
def _closed_after(messages: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """Closes a generator left unfinished (``--limit``), which stops its page prefetching."""
    try:
        yield messages
    finally:
        close = getattr(messages, "close", None)
        if callable(close):
            close()


SOURCE_FLAGS = ("page_size", "concurrency", "start_date", "role", "status")
DESTINATION_FLAGS = ("operation", "key", "dry_run", "concurrency", "on_error")


def _config(args: argparse.Namespace, flags: tuple[str, ...]) -> dict[str, Any]:
    """``--config FILE`` with the resource argument and the flags given laid over it."""
    config: dict[str, Any] = _load_json_object(args.config, "config") if args.config else {}
    config["resource"] = args.resource
    config.update({key: getattr(args, key) for key in flags if getattr(args, key) is not None})
    return config


def _source_config(args: argparse.Namespace) -> dict[str, Any]:
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
        filters.update({name: raws[0] if len(raws) == 1 else raws
                        for name, raws in given.items()})
        config["filters"] = filters
    return config


def _load_state(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    loaded = _load_json_object(path, "state")
    if loaded.get("type") == "STATE" and isinstance(loaded.get("value"), dict):
        value: dict[str, Any] = loaded["value"]
        return value
    return loaded


def _load_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read {what} file {path}: {error.strerror}") from error
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what} file {path} is not UTF-8 text") from None
    try:
        return jsonlines.load_object(text, f"{what} file {path}")
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def _write(args: argparse.Namespace) -> int:
    config = _config(args, DESTINATION_FLAGS)
    destination.parse_config(config)
    if args.max_line_bytes < 1:
        raise ConfigurationError("--max-line-bytes must be a whole number of bytes, at least 1")
    credential = load_credential(args.credential)
    host = _host()
    counts: Counter[str] = Counter()
    with _open_input(args.input) as stream:
        records = InputRecords(stream, args.max_line_bytes)
        # Installed before anything is sent, removed after the summary: a first SIGINT or
        # SIGTERM only stops the input, so every record sent is finished and reported.
        with _signals(records.stop, "finishing and reporting the records already sent",
                      "check the records that were in flight in Procurify."):
            with host.authenticate(CONNECTOR, credential) as session:
                for result in host.write(CONNECTOR, session, config, records):
                    counts[result.status] += 1
                    print(json.dumps(result.to_dict()), flush=False)
            sys.stdout.flush()
            summary = ", ".join(f"{counts[status]} {status}" for status in WRITE_STATUSES)
            print(f"{args.resource} {config.get('operation')}: {sum(counts.values())} "
                  f"records: {summary}.", file=sys.stderr)
            signum = records.stopped_by
            if signum is not None:
                print("Interrupted: the records above were handled; the rest of the input "
                      "was not read.", file=sys.stderr)
                return 128 + signum
    return EXIT_FAILED if counts["rejected"] or counts["failed"] else EXIT_OK


@contextlib.contextmanager
def _open_input(path: Path | None) -> Iterator[BinaryIO]:
    if path is None:
        yield sys.stdin.buffer
        return
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ConfigurationError(f"cannot read input file {path}: {error.strerror}") from error
    with handle:
        yield handle


class _InputStopped(Exception):
    """Raised into a blocked read of the input by the first SIGINT or SIGTERM."""


class InputRecords:
    """Records from JSON lines, lazily, until ``stop()``. Lines are read at most
    ``max_line_bytes`` at a time; a line that cannot be read as a record (too long, not UTF-8,
    not JSON, ...) is passed on as an ``UnreadableRecord`` saying why, so that it comes back
    ``rejected`` instead of ending the run."""

    def __init__(self, stream: BinaryIO, max_line_bytes: int = jsonlines.MAX_LINE_BYTES
                 ) -> None:
        self._lines = jsonlines.bounded_lines(stream, max_line_bytes)
        self._limit = max_line_bytes
        self.stopped_by: int | None = None  # the signal that stopped the input before its end
        self._reading = False
        self._exhausted = False

    def stop(self, signum: int) -> None:
        """No more input (called by the signal handler, on the thread reading the input).
        Once the whole input was read there is nothing to stop: the run ends by itself."""
        if self._exhausted:
            return
        if self.stopped_by is None:
            self.stopped_by = signum
        if self._reading:
            raise _InputStopped  # the input may never send another line: stop waiting

    def __iter__(self) -> Iterator[Any]:
        number = 0
        while self.stopped_by is None:
            self._reading = True
            try:
                raw = next(self._lines)
            except _InputStopped:
                return
            except StopIteration:
                self._exhausted = True
                return
            finally:
                self._reading = False
            number += 1
            if isinstance(raw, bytes) and not raw.strip():
                continue
            yield jsonlines.decode_line(raw, number, self._limit)


@contextlib.contextmanager
def _signals(on_first: Callable[[int], None], stopping: str, abandoned: str
             ) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (how hosts and schedulers stop a job): the first one says
    ``stopping`` and calls ``on_first(signum)``; a second one (either) says ``abandoned`` and
    ends the process at once, with 128 + its number, without waiting for anything in flight."""
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        if received:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            print(f"Stopped at once: {abandoned}", file=sys.stderr, flush=True)
            os._exit(128 + signum)  # workers may be waiting out retries: do not join them
        received.append(signum)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"Stopping ({name}): {stopping} (signal again to stop at once).",
              file=sys.stderr, flush=True)
        on_first(signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals
        return
    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Progress:
    """Counts for the stderr progress line (on a terminal) and the final summary (always)."""

    def __init__(self, stream: str, err: TextIO) -> None:
        self.stream = stream
        self.err = err
        self.records = 0
        self.pages = 0
        self.started = time.monotonic()
        self.live = err.isatty()

    def record(self) -> None:
        self.records += 1

    def page(self) -> None:
        self.pages += 1
        if self.live:
            print(f"\r{self._line()}", end="", file=self.err, flush=True)

    def finish(self) -> None:
        print(("\r" if self.live else "") + self._line() + " done.", file=self.err)

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return (f"{self.stream}: {self.records} records, {self.pages} pages, "
                f"{elapsed:.1f}s, {self.records / elapsed:.0f} records/s")


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # the mode given to open() only applies to a new file
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _demo(args: argparse.Namespace) -> int:
    with _loopback_allowed():  # this process is the host; the sandbox is loopback
        return _run_demo()


@contextlib.contextmanager
def _loopback_allowed() -> Iterator[None]:
    previous = os.environ.get(ALLOW_LOOPBACK_ENV)
    os.environ[ALLOW_LOOPBACK_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[ALLOW_LOOPBACK_ENV]
        else:
            os.environ[ALLOW_LOOPBACK_ENV] = previous


def _run_demo() -> int:
    host = _host()
    with Sandbox(records={"vendors": 240, "purchase_orders": 130}) as sandbox:
        print(f"1. Started the Procurify sandbox at {sandbox.base_url}")
        credential = sandbox.credential("Demo credential")
        result = host.validate_credential(CONNECTOR, credential, live=True)
        if not result.ok:
            _print_validation(result, sys.stderr)
            return EXIT_FAILED
        print("2. Credential validated live: Procurify issued a token.")
        with host.authenticate(CONNECTOR, credential) as session:
            response = session.get("/api/v3/users/me")
            raise_for_response(response, "read the API user")
            me = json_body(response, "read the API user")["data"]
            print(f"   Authenticated as {me['firstName']} {me['lastName']} <{me['email']}>.")
            vendors, _ = _demo_read(host, session, {"resource": "vendors"})
            print(f"3. Read {len(vendors)} vendors, for example:")
            for vendor in vendors[:3]:
                print(f"     #{vendor['id']:<4} {vendor['name']:<32} {vendor['external_id']}")
            config = {"resource": "purchase_orders", "role": "purchased", "status": "all"}
            orders, state = _demo_read(host, session, config)
            print(f"4. Read {len(orders)} purchase orders, for example:")
            for order in orders[:3]:
                print(f"     {_po_line(order)}")
            print(f"   Saved state for the next incremental run: {json.dumps(state)}")
            sandbox.edit("purchase_orders", 3)
            changed, _ = _demo_read(host, session, config, state)
            print(f"5. Someone edited PO-000003; the incremental run read {len(changed)} "
                  f"purchase orders (changed ones and the boundary day) instead of {len(orders)}.")
            upserts = [
                {"name": "Acme Office Supply", "email": ["ap@acme.example"], "type": 3,
                 "external_id": "DEMO-1"},
                {"name": "Globex Furniture", "email": ["billing@globex.example"], "type": 4,
                 "external_id": "DEMO-2"},
                {**_vendor_request(vendors[0]), "name": vendors[0]["name"] + " (renamed)"},
                {"name": "No email or type", "external_id": "DEMO-3"},
            ]
            write_config = {"resource": "vendors", "operation": "upsert", "key": "external_id"}
            for round_number in (1, 2):
                outcome = [r.to_dict() for r in host.write(CONNECTOR, session, write_config,
                                                           upserts)]
                print(f"{5 + round_number}. Upserted vendors by external_id (run {round_number}):")
                for upsert, written in zip(upserts, outcome, strict=True):
                    detail = f"id {written['id']}" if written["id"] else written.get("error", "")
                    print(f"     {upsert['external_id']:<9} {written['status']:<10} {detail}")
    print("Demo finished: the connector read, resumed and wrote against the sandbox.")
    return EXIT_OK


def _demo_read(
    host: Host, session: Any, config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records: list[dict[str, Any]] = []
    last_state: dict[str, Any] = {}
    for message in host.read(CONNECTOR, session, config, state):
        if isinstance(message, Record):
            records.append(dict(message.record))
        else:
            last_state = dict(message.value)
    return records, last_state


def _po_line(order: Mapping[str, Any]) -> str:
    """A purchase order in one line; the contract lets ``vendor_name`` be null (the vendor is
    then the preferred vendor record) and ``number`` be absent."""
    number = order.get("number") or order.get("procurify_PO") or "?"
    vendor = order.get("vendor_name") or (order.get("pref_vendor") or {}).get("name") or "?"
    currency = (order.get("purchased_currency") or {}).get("name") or ""
    return f"{number!s:<10} {vendor!s:<32} {order.get('total') or '':>12} {currency}"


def _vendor_request(vendor: Mapping[str, Any]) -> dict[str, Any]:
    return {key: vendor[key] for key in ("name", "email", "type", "external_id")}
