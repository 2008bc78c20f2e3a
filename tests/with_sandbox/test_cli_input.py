"""What the command line reads from the user: ``write``'s input lines (bounded, each damage
named) and the credential, state and config files (never a traceback)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from with_sandbox.writing import cli_write

from nexla_procurify import cli, jsonlines
from nexla_procurify.destination import UnreadableRecord
from nexla_procurify.sandbox import Sandbox
from nexla_procurify.target import main as target_main

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


class HugeLine:
    """A binary stream holding one line of ``size`` bytes (never built whole), then ``after``:
    it remembers the most it was asked for at once."""

    def __init__(self, size: int, after: bytes) -> None:
        self.left = size
        self.after = io.BytesIO(after)
        self.largest_read = 0

    def readline(self, size: int = -1) -> bytes:
        assert size > 0, "an unbounded readline would hold the whole line"
        self.largest_read = max(self.largest_read, size)
        if self.left > 0:
            chunk = min(size, self.left)
            self.left -= chunk
            return b"x" * chunk
        if self.left == 0:
            self.left = -1
            return b"\n"
        return self.after.readline(size)


def test_a_300_mb_line_is_never_held_and_the_next_lines_are_read() -> None:
    stream = HugeLine(300 * 1024 * 1024, b'{"name": "next"}\n')
    # HugeLine has only readline, all that bounded_lines calls: not a whole BinaryIO
    lines = list(jsonlines.bounded_lines(stream, jsonlines.MAX_LINE_BYTES))  # type: ignore[arg-type]
    assert lines == [jsonlines.TOO_LONG, b'{"name": "next"}\n']
    assert stream.largest_read <= jsonlines.MAX_LINE_BYTES + 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"abc\n" + b"y" * 9 + b"\nd", [b"abc\n", jsonlines.TOO_LONG, b"d"]),
        (b"12345678\n", [b"12345678\n"]),  # exactly the limit, besides its newline
        (b"12345678", [b"12345678"]),
        (b"123456789", [jsonlines.TOO_LONG]),
    ],
)
def test_lines_are_cut_at_the_limit(data: bytes, expected: list[Any]) -> None:
    assert list(jsonlines.bounded_lines(io.BytesIO(data), 8)) == expected


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b'\xef\xbb\xbf{"name": "x"}\n', "starts with a byte order mark (BOM)"),
        ('{"name": "x"}\n'.encode("utf-16"), "is UTF-16 text"),
        (b'{"name": "caf\xe9"}\n', "is not UTF-8 text (byte 0xe9 at position 14)"),
        (b'{"name": "Acme", "email": ["ap@', "is cut short"),
        (b'{"name": "Acme", ', "is cut short"),
        (b'{"name": Acme}', "is not valid JSON: Expecting value (column 10)"),
        (DEEP.encode(), "is nested too deeply"),
        (DEEP_OBJECT.encode(), "is nested too deeply"),
        (b'{"overall_score": 1e400}', "holds a number too large to use (1e400)"),
        (b'{"overall_score": NaN}', "holds NaN"),
        (b'{"type": ' + b"9" * 5000 + b"}", "holds a number too large to use (5000 digits)"),
    ],
)
def test_each_damaged_line_says_what_is_wrong(raw: bytes, phrase: str) -> None:
    decoded = jsonlines.decode_line(raw, 7, 1000)
    assert isinstance(decoded, UnreadableRecord)
    assert decoded.reason.startswith("Input line 7 ")
    assert phrase in decoded.reason
    assert "JSON object, not text" not in decoded.reason


def test_a_line_too_long_names_the_setting() -> None:
    decoded = jsonlines.decode_line(jsonlines.TOO_LONG, 3, 1000)
    assert isinstance(decoded, UnreadableRecord)
    assert "longer than 1000 bytes" in decoded.reason
    assert "--max-line-bytes" in decoded.reason


def test_write_rejects_an_over_long_line_as_its_record_and_goes_on(
    sandbox: Sandbox,
    credential_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = tmp_path / "departments.jsonl"
    good = [json.dumps({"name": f"Dept {n}", "branch": 1}) for n in range(2)]
    too_long = json.dumps({"name": "x" * 5000, "branch": 1})
    records.write_text("\n".join([good[0], too_long, good[1]]) + "\n")
    code, results, err = cli_write(
        capsys, credential_file, "departments", str(records), "--max-line-bytes", "1000"
    )
    assert [(r["index"], r["status"]) for r in results] == [
        (0, "created"),
        (1, "rejected"),
        (2, "created"),
    ]
    assert "Input line 2 is longer than 1000 bytes" in results[1]["error"]
    assert code == 1
    assert "Traceback" not in err


def test_write_names_each_damaged_line(
    sandbox: Sandbox,
    credential_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = tmp_path / "odd.jsonl"
    good = json.dumps({"name": "Research", "branch": 1}).encode()
    records.write_bytes(
        b"\n".join(
            [
                b"\xef\xbb\xbf" + good,
                b'{"name": "Resea',
                b"\xff not utf-8",
                DEEP.encode(),
                good,
            ]
        )
        + b"\n"
    )
    code, results, _ = cli_write(capsys, credential_file, "departments", str(records))
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["created"]
    reasons = [r["error"] for r in results[:4]]
    assert "byte order mark" in reasons[0]
    assert "cut short" in reasons[1]
    assert "not UTF-8" in reasons[2]
    assert "nested too deeply" in reasons[3]
    assert code == 1


LINE_LIMITS_REFUSED = [
    "--max-line-bytes=0",
    "--max-line-bytes=-5",
    f"--max-line-bytes={jsonlines.LARGEST_LINE_BYTES + 1}",
    "--max-line-bytes=99999999999999999999",  # more than a read can ask for
]


@pytest.mark.parametrize("option", LINE_LIMITS_REFUSED)
def test_the_largest_line_must_be_positive(
    credential_file: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    code, _, err = cli_write(capsys, credential_file, "departments", option)
    assert code == 2
    assert "--max-line-bytes must be" in err


@pytest.mark.parametrize("option", LINE_LIMITS_REFUSED)
def test_the_targets_largest_line_is_bounded_too(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str,
) -> None:
    settings = tmp_path / "target.json"
    settings.write_text(
        json.dumps({"client_id": "a", "client_secret": "b", "base_url": "https://a.procurify.com"})
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code = target_main(["--config", str(settings), option])
    _, err = capsys.readouterr()
    assert code == 2
    assert "--max-line-bytes must be a whole number of bytes from 1 to 1073741824" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (DEEP, "is nested too deeply"),
        (DEEP_OBJECT, "is nested too deeply"),
        ('{"a":' * 70 + "1" + "}" * 70, "is nested too deeply"),
        ('{"name": 1e400}', "holds a number too large to use (1e400)"),
        ('{"name": -Infinity}', "holds -Infinity"),
        ('{"page": ' + "1" * 5000 + "}", "holds a number too large to use (5000 digits)"),
    ],
)
@pytest.mark.parametrize("what", ["credential", "state", "config"])
def test_hostile_json_files_end_in_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    allow_loopback: None,
    content: str,
    phrase: str,
    what: str,
) -> None:
    path = tmp_path / f"{what}.json"
    path.write_text(content)
    credential = tmp_path / "credential.json"
    if what != "credential":
        credential.write_text(
            json.dumps(
                {
                    "name": "x",
                    "client_id": "id",
                    "client_secret": "s",
                    "base_url": "http://127.0.0.1:9",
                }
            )
        )
    code = cli.main(
        [
            "read",
            "vendors",
            f"--{what}",
            str(path),
            *(["--credential", str(credential)] if what != "credential" else []),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert f"{what} file {path} {phrase}" in err
    assert "Traceback" not in err


def test_a_state_page_of_1e400_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    credential_file: Path,
) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"type": "STATE", "value": {"resource": "vendors", "page": 1e400}}')
    code = cli.main(
        ["read", "vendors", "--state", str(state), "--credential", str(credential_file)]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert "state file" in err
    assert "too large" in err
    assert "Traceback" not in err


def test_a_file_that_is_not_utf8_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "credential.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    code = cli.main(["check", "--credential", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "is not UTF-8 text" in err
    assert err.count("\n") == 1
