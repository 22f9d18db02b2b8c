"""A small ClickHouse HTTP interface in front of chdb (the ClickHouse engine, embedded).

Test harness only: no ClickHouse server package can be installed here, but chdb (PyPI) runs the
real ClickHouse engine in-process. This serves what Langfuse's @clickhouse/client uses of the
HTTP interface: ``GET /ping``; the query in the body or in ``?query=`` (then the body is the
data of an ``INSERT … FORMAT``); ``param_*`` query parameters; other URL parameters as settings;
``X-ClickHouse-Summary``/``-Query-Id``/``-Format`` headers; errors as HTTP 500 with ClickHouse's
own exception text and ``X-ClickHouse-Exception-Code``. One chdb session, one query at a time.

On start it applies Langfuse's unclustered ClickHouse migrations (as golang-migrate would,
splitting each file on ``;``) and records them in ``schema_migrations``.

Usage: python clickhouse_front.py --port 8123 --data DIR --migrations DIR
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from chdb import session as chdb_session

log = logging.getLogger("clickhouse-front")

#: URL parameters that are part of the HTTP protocol, not ClickHouse settings.
PROTOCOL_PARAMS = {
    "query",
    "query_id",
    "database",
    "default_format",
    "user",
    "password",
    "session_id",
    "session_timeout",
    "session_check",
    "compress",
    "decompress",
    "buffer_size",
    "wait_end_of_query",
    "enable_http_compression",
    "http_native_compression_disable_checksumming_on_decompress",
    "role",
}
#: Settings that make no sense in-process (no async insert queue, no progress headers).
IGNORED_SETTINGS = re.compile(
    r"^(async_insert.*|wait_for_async_insert.*|send_progress_in_http_headers|http_.*|"
    r"cancel_http_readonly_queries_on_client_close|max_execution_time|receive_timeout|send_timeout|"
    r"log_comment|lightweight_delete_mode|update_parallel_mode)$"
)
FORMAT_RE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
INSERT_FORMAT_RE = re.compile(r"^\s*INSERT\b.*\bFORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)
COMPATIBILITY = "25.12"
CODE_RE = re.compile(r"Code:\s*(\d+)")


class Engine:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.session = chdb_session.Session(str(data_dir))
        self.lock = threading.RLock()  # one query (with its settings) at a time
        self.settings: dict[str, str] = {}
        # Defaults of the ClickHouse that Langfuse's docker-compose runs (25.12). The embedded
        # engine is 26.9, which reads a JSON integer for a DateTime64 column as seconds, not
        # ticks: Langfuse's inserts of events (microseconds) would overflow.
        self.session.query(f"SET compatibility = '{COMPATIBILITY}'")

    def run(self, sql: str, fmt: str = "TabSeparated", *, params: dict[str, str] | None = None):
        with self.lock:
            if params:
                return self.session.query(sql, fmt, params=params)
            return self.session.query(sql, fmt)

    def apply_settings(self, settings: dict[str, str]) -> None:
        """Make the session's settings those of this request: HTTP settings are per query."""
        wanted = {k: v for k, v in settings.items() if not IGNORED_SETTINGS.match(k)}
        for name in [n for n in self.settings if n not in wanted]:
            self._set(name, "DEFAULT")
            del self.settings[name]
        for name, value in wanted.items():
            if self.settings.get(name) != value:
                literal = value if re.fullmatch(r"-?\d+(\.\d+)?", value) else _quote(value)
                self._set(name, literal)
                self.settings[name] = value

    def _set(self, name: str, literal: str) -> None:
        if not re.fullmatch(r"\w+", name):
            return
        try:
            self.run(f"SET {name} = {literal}")
        except Exception as exc:  # an unknown setting must not fail the query
            log.warning("setting %s=%s ignored: %s", name, literal, exc)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def migrate(engine: Engine, directory: Path) -> int:
    engine.run(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version Int64, dirty UInt8, "
        "sequence UInt64) ENGINE = MergeTree ORDER BY sequence"
    )
    done = {
        int(line)
        for line in engine.run("SELECT version FROM schema_migrations", "CSV")
        .bytes()
        .decode()
        .split()
    }
    applied = 0
    for path in sorted(directory.glob("*.up.sql")):
        version = int(path.name.split("_", 1)[0])
        if version in done:
            continue
        for statement in path.read_text().split(";"):
            if statement.strip():
                engine.run(statement)
        engine.run(
            "INSERT INTO schema_migrations VALUES ({v:Int64}, 0, {s:UInt64})",
            params={"v": str(version), "s": str(time.time_ns())},
        )
        applied += 1
    return applied


def make_handler(engine: Engine):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args) -> None:
            log.debug(fmt, *args)

        def do_GET(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            if path in ("/ping", "/"):
                if path == "/" and "query=" not in self.path:
                    return self._reply(200, b"Ok.\n")
                if path == "/ping":
                    return self._reply(200, b"Ok.\n")
            self._query(b"")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self._read_chunked()
            else:
                body = self.rfile.read(length) if length else b""
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            self._query(body)

        def _read_chunked(self) -> bytes:
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        def _query(self, body: bytes) -> None:
            params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            query_id = params.get("query_id") or str(uuid.uuid4())
            url_query = params.get("query")
            if url_query is not None:
                sql = url_query + ("\n" + body.decode() if body else "")
            else:
                sql = body.decode()
            query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
            settings = {
                k: v
                for k, v in params.items()
                if k not in PROTOCOL_PARAMS and not k.startswith("param_")
            }
            stripped = sql.strip()
            match = (
                FORMAT_RE.search(stripped) if not INSERT_FORMAT_RE.match(url_query or "") else None
            )
            fmt = params.get("default_format") or "TabSeparated"
            if match and not stripped.upper().startswith("INSERT"):
                fmt = match.group(1)
                stripped = stripped[: match.start()].rstrip()
            began = time.monotonic()
            try:
                with engine.lock:
                    engine.apply_settings(settings)
                    result = engine.run(stripped, fmt, params=query_params)
                data = result.bytes() if result is not None else b""
                rows = result.rows_read() if hasattr(result, "rows_read") else 0
                nbytes = result.bytes_read() if hasattr(result, "bytes_read") else 0
            except Exception as exc:
                text = str(exc)
                code = CODE_RE.search(text)
                log.warning("query failed: %s | %s", text[:300], stripped[:300])
                return self._reply(
                    500,
                    (
                        text if text.startswith("Code:") else f"Code: 1000. DB::Exception: {text}"
                    ).encode()
                    + b"\n",
                    {
                        "X-ClickHouse-Exception-Code": code.group(1) if code else "1000",
                        "X-ClickHouse-Query-Id": query_id,
                    },
                )
            elapsed = int((time.monotonic() - began) * 1e9)
            summary = {
                "read_rows": str(rows),
                "read_bytes": str(nbytes),
                "written_rows": "0",
                "written_bytes": "0",
                "total_rows_to_read": str(rows),
                "result_rows": "0",
                "result_bytes": str(len(data)),
                "elapsed_ns": str(elapsed),
            }
            self._reply(
                200,
                data,
                {
                    "X-ClickHouse-Query-Id": query_id,
                    "X-ClickHouse-Format": fmt,
                    "X-ClickHouse-Summary": json.dumps(summary),
                    "Content-Type": "application/json; charset=UTF-8"
                    if fmt.upper().startswith("JSON")
                    else "text/tab-separated-values; charset=UTF-8",
                },
            )

        def _reply(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-ClickHouse-Server-Display-Name", "chdb")
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--migrations", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s clickhouse-front %(levelname)s %(message)s"
    )
    engine = Engine(args.data)
    began = time.monotonic()
    applied = migrate(engine, args.migrations)
    log.info("applied %d ClickHouse migrations in %.1f s", applied, time.monotonic() - began)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(engine))
    server.daemon_threads = True
    log.info("listening on %s:%d", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
