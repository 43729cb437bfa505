"""Benchmark: bytes sent per minute to each open live dashboard (national, Hà Nội) while check-ins
arrive, against the service run as in production (gunicorn, sync workers).

    .venv/bin/python bench/live_bytes.py [--repo DIR] [--database-url URL] [--seconds 60] [--rate 3]
                                         [--poll 5] [--workers 4] [--limit N]
                                         [--dashboards national,hanoi[,incidents]] [--verify]
                                         [--accept-encoding gzip] [--keep]

--repo is the product checkout to measure (default: the one holding this script). The product is
driven ONLY through its command line (`python -m flask --app app …`, cwd=REPO, env DATABASE_URL)
and its HTTP API and pages, never imported: the same script measures an old checkout and a new one.
Database: a fresh SQLite file in a temp dir, or with --database-url postgresql://… a scratch schema
(`CREATE SCHEMA bench_xxxxxxxx`, search_path in the URL's options, dropped at the end).

Setup (timed, not an aim): `db upgrade`, `units load --structure 2024`, `schedules load
schedules/nd49-2024.toml --shift-to <tomorrow>`, an organizer and an operator (`users create`,
`users token`); then over HTTP: the 2024 units (GET /api/v1/units), the national list built as a CSV
with the template's header row as the server serves it (one endpoint per unit, two contacts with
distinct mobiles each, as bench/import_national.py does) and imported (POST …/endpoints/import);
the connectivity test moved to [now - 10 min, now + 3 h] (PATCH …/sessions/connectivity_test); the
event published; a check for every endpoint (POST …/checks in batches of 1,000: 85 % connected,
10 % degraded, 5 % failed, random.Random(1)).

Measured: an operator signed in through the login form (cookie) opens the national dashboard and
Hà Nội's (01) page, and reads each page's `#status-live` `data-live` / `data-etag`, as status.js
does. For --seconds, one writer posts single check-ins (POST /api/v1/endpoints/<id>/checks) at
--rate per second, and one poller per dashboard asks its live URL --poll seconds after each answer
with `If-None-Match` and `Accept-Encoding`, like the page's script. Per dashboard: polls, 200s,
304s, body bytes on the wire (as sent, before decoding), an estimate of the response headers' bytes,
and the decoded size of each 200. Also: the gunicorn workers' CPU seconds over the window, the
check-ins recorded (every one must be answered 201), and one-off sizes of a full GET of the
national fragment, Hà Nội's, and the incident lists (the old one: the centre's page filtered on
incidents, /events/<slug>/status/TW?filter=incident; the new one: /events/<slug>/status/incidents).

Consistency checks (printed; a failure makes the exit status 1, times never do): a 200 whose
ETag was already seen with another body (a 304 would have hidden a change), a 200 whose body equals
the one held (the ETag moved, the content did not), a 200 answering an If-None-Match that matched,
a 200 without X-Status-Fragment, any other status; after the window, with no writes, a conditional
poll must be 304 and two unconditional GETs must agree on ETag and body. --verify also fetches the
fragment unconditionally after every 304 (not counted in the table, but in the CPU) and reports a
304 whose held body differs from the current body under the same ETag.

Prints figures; asserts nothing about time.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import html
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urljoin

import requests

HERE = Path(__file__).resolve().parent
DEFAULT_REPO = HERE.parent
SLUG = "nd49-2024"
SESSION = "connectivity_test"
HANOI = "01"
PASSWORD = "bench-password-2024"
ORGANIZER = "organizer@bench.example.gov.vn"
OPERATOR = "operator@bench.example.gov.vn"
STATE_WEIGHTS = (("connected", 0.85), ("degraded", 0.10), ("failed", 0.05))
PROTOCOLS = ("sip", "h323", "webrtc")
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The template's headers (Vietnamese, and the English spellings scripts may use) -> what goes there.
HEADER_KEYS = {
    "mã đơn vị": "unit_code", "unit code": "unit_code",
    "tên điểm cầu": "name", "endpoint name": "name",
    "địa chỉ": "address", "address": "address",
    "giao thức": "protocol", "protocol": "protocol",
    "địa chỉ kết nối": "dial", "dial address": "dial",
    "họ và tên": "contact_name", "contact name": "contact_name",
    "chức vụ": "contact_position", "contact position": "contact_position",
    "số điện thoại": "contact_phone", "contact phone": "contact_phone",
    "thư điện tử": "contact_email", "contact email": "contact_email",
    "vai trò": "contact_role", "contact role": "contact_role",
}


def say(*parts) -> None:
    print(*parts, flush=True)


def kb(n: float) -> str:
    return f"{n / 1000:,.1f}"


# --- the product's command line ------------------------------------------------------------------------

class Product:
    """The checkout under test: its CLI and its gunicorn, with the bench's database and temp dirs."""

    def __init__(self, repo: Path, database_url: str, tmp: Path):
        self.repo = repo
        self.env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "bench-live-bytes",
                    # Keep every file the service writes out of the checkout (and away from a dev
                    # instance's cache, whose keys could collide with this database's).
                    "CACHE_DIR": str(tmp / "cache"), "MAIL_FILE_DIR": str(tmp / "mail"),
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("FLASK_APP", None)
        self.tmp = tmp
        self.process: subprocess.Popen | None = None
        self.log_path = tmp / "gunicorn.log"
        self.log = None
        self.base = ""

    def flask(self, *args: str, timeout: float = 900) -> str:
        command = [sys.executable, "-m", "flask", "--app", "app", *args]
        done = subprocess.run(command, cwd=self.repo, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"`flask --app app {' '.join(args)}` exited {done.returncode}:\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, workers: int) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.log = open(self.log_path, "w")
        # --timeout: the national import and the publication are single requests of several
        # seconds each during the setup; the default 30 s would kill a worker on a slow machine.
        self.process = subprocess.Popen(
            [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "600", "app:app"],
            cwd=self.repo, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.process.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz within 120 s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, n: int = 4000) -> str:
        if self.log:
            self.log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                pass
        return pids

    def worker_cpu(self) -> dict[int, float]:
        return {pid: cpu_of(pid) for pid in self.worker_pids()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # gunicorn's master stops its workers on SIGTERM
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own process group (start_new_session)
                except OSError:
                    pass
                self.process.wait(10)
        if self.log:
            self.log.close()
            self.log = None


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- databases ------------------------------------------------------------------------------------------

class Database:
    """A fresh SQLite file, or a scratch schema of the given PostgreSQL database."""

    def __init__(self, url: str | None, tmp: Path):
        self.schema = None
        self.admin_url = None
        if not url or url.startswith("sqlite"):
            self.url = url or f"sqlite:///{tmp / 'bench.sqlite3'}"
            self.label = "SQLite (file)"
            return
        import psycopg

        self.admin_url = url
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        self.url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{self.schema}"
        self.label = f"PostgreSQL (schema {self.schema})"

    def drop(self) -> None:
        if self.schema:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {self.schema} CASCADE")
            self.schema = None


# --- HTTP helpers ---------------------------------------------------------------------------------------

def decode(body: bytes, encoding: str) -> bytes:
    encoding = (encoding or "identity").lower().strip()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if encoding == "br":
        import brotli

        return brotli.decompress(body)
    if encoding == "zstd":
        try:
            from compression import zstd  # Python 3.14
        except ImportError:
            from backports import zstd
        return zstd.decompress(body)
    raise ValueError(f"unknown Content-Encoding {encoding!r}")


def header_bytes(response: requests.Response) -> int:
    """The status line and headers as they crossed the wire (reconstructed from the parsed ones)."""
    original = getattr(response.raw, "_original_response", None)
    items = list(original.msg.items()) if original is not None else list(response.headers.items())
    return (len(f"HTTP/1.1 {response.status_code} {response.reason}\r\n".encode())
            + sum(len(k.encode("latin-1")) + 2 + len(v.encode("latin-1", "replace")) + 2 for k, v in items) + 2)


class Wire:
    """One GET as a browser's fetch makes it: body bytes as sent (compressed), decoded body, headers."""

    def __init__(self, response: requests.Response):
        self.status = response.status_code
        self.headers = response.headers
        self.raw = response.raw.read(decode_content=False) or b""
        response.close()
        self.header_bytes = header_bytes(response)
        self.encoding = response.headers.get("Content-Encoding", "")
        self.body = decode(self.raw, self.encoding) if self.raw else b""
        self.etag = response.headers.get("ETag", "")


def get_wire(http: requests.Session, url: str, headers: dict | None = None, timeout: float = 120) -> Wire:
    return Wire(http.get(url, headers=headers or {}, stream=True, timeout=timeout, allow_redirects=False))


def browser(base: str, accept_encoding: str) -> requests.Session:
    http = requests.Session()
    http.headers.update({"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) live_bytes bench",
                         "Accept": "*/*", "Accept-Language": "vi-VN,vi;q=0.9,en;q=0.8",
                         "Accept-Encoding": accept_encoding})
    return http


def api(base: str, token: str) -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def expect(response: requests.Response, *codes: int) -> requests.Response:
    if response.status_code not in codes:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} "
                           f"(expected {codes}): {response.text[:1500]}")
    return response


def sign_in(base: str, email: str, accept_encoding: str) -> requests.Session:
    """The login form, as a browser posts it (csrf_token from the page's hidden input)."""
    http = browser(base, accept_encoding)
    page = expect(http.get(base + "/login", timeout=30), 200).text
    match = (re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]*)"', page)
             or re.search(r'<input[^>]*value="([^"]*)"[^>]*name="csrf_token"', page))
    if not match:
        raise RuntimeError("no csrf_token input on /login")
    done = http.post(base + "/login", data={"email": email, "password": PASSWORD,
                                            "csrf_token": html.unescape(match.group(1))},
                     timeout=30, allow_redirects=False)
    if done.status_code not in (302, 303):
        raise RuntimeError(f"sign-in of {email}: {done.status_code}: {done.text[:500]}")
    return http


def live_attrs(page_html: str) -> tuple[str, str, str]:
    """(data-live, data-etag, data-poll) of <div id="status-live" …>, HTML-unescaped."""
    tag = re.search(r'<div\b[^>]*\bid="status-live"[^>]*>', page_html)
    if not tag:
        raise RuntimeError('no <div id="status-live"> on the page')
    attrs = {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag.group(0))}
    return attrs.get("data-live", ""), attrs.get("data-etag", ""), attrs.get("data-poll", "")


def etag_matches(held: str, etag: str) -> bool:
    def bare(tag: str) -> str:
        return tag[2:] if tag.startswith("W/") else tag
    return bool(held) and bare(held) == bare(etag)


# --- setup ----------------------------------------------------------------------------------------------

def path_order(units: list[dict]) -> list[dict]:
    """Units in tree order (parent first, children by code), as the product's Unit.path sorts."""
    children: dict[str | None, list[dict]] = {}
    codes = {u["code"] for u in units}
    for u in units:
        parent = u.get("parent_code") if u.get("parent_code") in codes else None
        children.setdefault(parent, []).append(u)
    out, stack = [], sorted(children.get(None, []), key=lambda u: u["code"], reverse=True)
    while stack:
        u = stack.pop()
        out.append(u)
        stack.extend(sorted(children.get(u["code"], []), key=lambda c: c["code"], reverse=True))
    return out


def national_rows(units: list[dict]) -> list[dict[str, str]]:
    """Two people per endpoint, distinct valid mobiles (091x and 098x), as bench/import_national.py."""
    rows = []
    for i, unit in enumerate(units):
        protocol = PROTOCOLS[i % 3]
        dial = {"sip": f"sip:dc{unit['code']}@10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                "h323": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                "webrtc": f"https://hop.example.gov.vn/{unit['code']}"}[protocol]
        endpoint = {"unit_code": unit["code"], "name": f"Phòng họp trực tuyến {unit['name']}",
                    "address": f"Trụ sở {unit['name']}", "protocol": protocol, "dial": dial}
        rows.append({**endpoint, "contact_name": f"Nguyễn Văn {i}", "contact_position": "Lãnh đạo",
                     "contact_phone": f"0912 {i // 1000:03d} {i % 1000:03d}", "contact_email": "",
                     "contact_role": "Chủ trì"})
        rows.append({"unit_code": unit["code"], "contact_name": f"Trần Thị {i}", "contact_position": "Chuyên viên",
                     "contact_phone": f"0983{i:06d}", "contact_email": f"kythuat{i}@example.gov.vn",
                     "contact_role": "Kỹ thuật"})
    return rows


def draw_state(rng: random.Random) -> str:
    x = rng.random()
    acc = 0.0
    for state, weight in STATE_WEIGHTS:
        acc += weight
        if x < acc:
            return state
    return STATE_WEIGHTS[-1][0]


class Step:
    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            say(f"  {self.label:<58} {time.perf_counter() - self.started:7.1f} s"
                + (f"  {self.note}" if getattr(self, "note", "") else ""))


def setup(product: Product, args) -> dict:
    say("setup (timed, not an aim):")
    started = time.perf_counter()
    with Step("flask db upgrade"):
        product.flask("db", "upgrade")
    with Step("flask units load --structure 2024") as s:
        s.note = product.flask("units", "load", "--structure", "2024").strip().splitlines()[-1][:70]
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    with Step(f"flask schedules load … --shift-to {tomorrow}"):
        product.flask("schedules", "load", "schedules/nd49-2024.toml", "--shift-to", tomorrow)
    with Step("flask users create (organizer, operator) + users token"):
        product.flask("users", "create", "--email", ORGANIZER, "--password", PASSWORD, "--role", "organizer")
        product.flask("users", "create", "--email", OPERATOR, "--password", PASSWORD, "--role", "operator")
        organizer_token = product.flask("users", "token", ORGANIZER).strip().splitlines()[-1].strip()
        operator_token = product.flask("users", "token", OPERATOR).strip().splitlines()[-1].strip()
    with Step(f"gunicorn -w {args.workers} up (/healthz answers)"):
        product.start(args.workers)
    base = product.base
    org = api(base, organizer_token)

    with Step("GET /api/v1/units?structure=2024 (pages of 1,000)") as s:
        units, page = [], 1
        while True:
            data = expect(org.get(f"{base}/api/v1/units", params={"structure": "2024", "per_page": 1000,
                                                                 "page": page}, timeout=60), 200).json()
            units += data["items"]
            if not data["items"] or len(units) >= data["total"]:
                break
            page += 1
        units = path_order(units)
        tiers = Counter(u["tier"] for u in units)
        s.note = f"{len(units):,} units: " + ", ".join(f"{t} {n:,}" for t, n in tiers.items())
    if args.limit:
        units = units[:args.limit]

    with Step("GET template.csv, national CSV built") as s:
        template = expect(org.get(f"{base}/events/{SLUG}/endpoints/template.csv", timeout=60), 200)
        text = template.content.decode("utf-8-sig")
        header = next(csv.reader(io.StringIO(text)))
        keys = [HEADER_KEYS.get(h.strip().lower()) for h in header]
        if "unit_code" not in keys or "contact_phone" not in keys:
            raise RuntimeError(f"template header not understood: {header}")
        rows = national_rows(units)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(k, "") if k else "" for k in keys])
        data = out.getvalue().encode("utf-8")
        s.note = f"{len(units):,} endpoints, {len(rows):,} rows, {len(data) / 1e6:.1f} MB; header {header}"
    with Step("POST …/endpoints/import (multipart file)") as s:
        done = expect(org.post(f"{base}/api/v1/events/{SLUG}/endpoints/import",
                               files={"file": ("national.csv", data, "text/csv")}, timeout=1800), 200, 201)
        s.note = json.dumps(done.json())[:160]

    now = datetime.now(timezone.utc).replace(microsecond=0)
    with Step("PATCH …/sessions/connectivity_test [now-10min, now+3h]") as s:
        done = expect(org.patch(f"{base}/api/v1/events/{SLUG}/sessions/{SESSION}",
                                json={"starts_at": (now - timedelta(minutes=10)).isoformat(),
                                      "ends_at": (now + timedelta(hours=3)).isoformat()}, timeout=600), 200)
        s.note = f"{done.json().get('starts_at')} – {done.json().get('ends_at')}"
    with Step("POST …/publish") as s:
        done = expect(org.post(f"{base}/api/v1/events/{SLUG}/publish", timeout=1800), 200, 201)
        s.note = f"status {done.json().get('status')}, invitations {json.dumps(done.json().get('invitations'))[:90]}"

    with Step("GET …/endpoints") as s:
        items = expect(org.get(f"{base}/api/v1/events/{SLUG}/endpoints", timeout=600), 200).json()["items"]
        endpoints = sorted((e["id"], e["unit_code"]) for e in items)
        s.note = f"{len(endpoints):,} endpoints"
    op = api(base, operator_token)
    with Step("POST …/checks, batches of 1,000 (85/10/5 %, Random(1))") as s:
        rng = random.Random(1)
        seeded = Counter()
        checks = []
        for eid, _code in endpoints:
            state = draw_state(rng)
            seeded[state] += 1
            checks.append({"endpoint_id": eid, "state": state, "note": "bench seed"})
        incidents = 0
        for i in range(0, len(checks), 1000):
            done = expect(op.post(f"{base}/api/v1/events/{SLUG}/checks",
                                  json={"session": SESSION, "checks": checks[i:i + 1000]}, timeout=1800), 201)
            incidents = max(incidents, done.json().get("incidents_open") or 0)
        s.note = ", ".join(f"{k} {v:,}" for k, v in seeded.items())
    say(f"  {'setup total':<58} {time.perf_counter() - started:7.1f} s")
    return {"operator_token": operator_token, "endpoints": endpoints}


# --- measurement ----------------------------------------------------------------------------------------

class Dashboard:
    def __init__(self, name: str, page: str):
        self.name = name
        self.page = page
        self.url = ""
        self.etag = ""
        self.body = b""
        self.polls = 0
        self.status = Counter()
        self.wire_body = 0
        self.wire_headers = 0
        self.decoded_200: list[int] = []
        self.wire_200: list[int] = []
        self.seen: dict[str, str] = {}  # ETag -> sha1 of the body served under it
        self.problems: list[str] = []
        self.verify_304 = Counter()
        self.latencies: list[float] = []

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)
        else:
            self.problems[-1] = f"… and more (last: {text})"

    def note_200(self, wire: Wire, held: str) -> None:
        digest = hashlib.sha1(wire.body).hexdigest()
        if etag_matches(held, wire.etag):
            self.problem(f"200 although If-None-Match {held} matched its ETag")
        if not wire.headers.get("X-Status-Fragment"):
            self.problem(f"200 without X-Status-Fragment (Content-Type {wire.headers.get('Content-Type')})")
        if wire.etag in self.seen and self.seen[wire.etag] != digest:
            self.problem(f"ETag {wire.etag} served with two different bodies (a 304 would hide a change)")
        if self.body and wire.body == self.body:
            self.problem(f"200 with the body already held (ETag {held} -> {wire.etag}: a 304 was due)")
        self.seen.setdefault(wire.etag, digest)


def poller(dash: Dashboard, http: requests.Session, stop: threading.Event, every: float, verify: bool) -> None:
    """status.js: wait `every` after each answer, ask with the ETag held; 304 keeps, 200 replaces."""
    while not stop.wait(every):
        headers = {"X-Requested-With": "status.js", "Cache-Control": "no-cache", "Pragma": "no-cache"}
        if dash.etag:
            headers["If-None-Match"] = dash.etag
        started = time.perf_counter()
        try:
            wire = get_wire(http, dash.url, headers)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the page keeps asking
            dash.polls += 1
            dash.status[f"error {type(exc).__name__}"] += 1
            dash.problem(f"poll error: {exc}")
            continue
        dash.latencies.append(time.perf_counter() - started)
        dash.polls += 1
        dash.status[wire.status] += 1
        dash.wire_body += len(wire.raw)
        dash.wire_headers += wire.header_bytes
        if wire.status == 200:
            dash.note_200(wire, dash.etag)
            dash.decoded_200.append(len(wire.body))
            dash.wire_200.append(len(wire.raw))
            dash.body = wire.body
            if wire.etag:
                dash.etag = wire.etag
        elif wire.status == 304:
            if verify:
                check = get_wire(http, dash.url, {"X-Requested-With": "status.js"})
                if check.status == 200 and etag_matches(dash.etag, check.etag):
                    dash.verify_304["same ETag, same body" if check.body == dash.body
                                    else "same ETag, DIFFERENT body"] += 1
                    if check.body != dash.body:
                        dash.problem(f"304 for ETag {dash.etag}, but the current body under that ETag differs")
                else:
                    dash.verify_304[f"ETag moved since (status {check.status})"] += 1
        else:
            dash.problem(f"poll answered {wire.status}: {wire.body[:200]!r}")


class Writer:
    def __init__(self, base: str, token: str, endpoints: list[int], rate: float):
        self.base, self.endpoints, self.rate = base, endpoints, rate
        self.http = api(base, token)
        self.status = Counter()
        self.other: list[str] = []
        self.latencies: list[float] = []
        self.incidents_open = 0
        self.sent = 0

    def run(self, stop: threading.Event) -> None:
        rng = random.Random(2)
        started = time.monotonic()
        while not stop.is_set():
            due = started + self.sent / self.rate
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            eid = rng.choice(self.endpoints)
            state = draw_state(rng)
            self.sent += 1
            t0 = time.perf_counter()
            try:
                r = self.http.post(f"{self.base}/api/v1/endpoints/{eid}/checks", timeout=60,
                                   json={"state": state, "session": SESSION,
                                         "note": f"bench live check-in {self.sent}: {state}"})
            except requests.RequestException as exc:
                self.status[f"error {type(exc).__name__}"] += 1
                self.other.append(str(exc)[:200])
                continue
            self.latencies.append(time.perf_counter() - t0)
            self.status[r.status_code] += 1
            if r.status_code == 201:
                self.incidents_open += bool(r.json().get("incident_open"))
            elif len(self.other) < 10:
                self.other.append(f"{r.status_code}: {r.text[:300]}")


def one_off(http: requests.Session, base: str, label: str, url: str) -> Wire | None:
    """A full GET (no If-None-Match) of a fragment or page; prints its decoded and wire sizes."""
    wire = get_wire(http, url, {"X-Requested-With": "status.js"})
    path = url[len(base):] if url.startswith(base) else url
    if wire.status != 200:
        say(f"  {label:<40} {'-':>12} {'-':>12}   {wire.status} {path}")
        return None
    say(f"  {label:<40} {kb(len(wire.body)):>9} KB {kb(len(wire.raw)):>9} KB   "
        f"{wire.encoding or 'identity'}, {path}")
    return wire


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(product: Product, ctx: dict, args) -> list[str]:
    base = product.base
    failures: list[str] = []
    http = sign_in(base, OPERATOR, args.accept_encoding)

    pages = {"national": f"{base}/events/{SLUG}/status", "hanoi": f"{base}/events/{SLUG}/status/{HANOI}",
             "incidents": f"{base}/events/{SLUG}/status/TW?filter=incident"}
    names = {"national": "national", "hanoi": f"Hà Nội ({HANOI})", "incidents": "incidents (TW, filter)"}

    say("\none-off full GETs (no If-None-Match; decoded size, body bytes on the wire):")
    say(f"  {'':<40} {'decoded':>12} {'wire':>12}")
    page_sizes = {}
    for key in ("national", "hanoi", "incidents"):
        r = get_wire(http, pages[key])
        if r.status != 200:
            say(f"  {names[key] + ' page':<40} {'-':>12} {'-':>12}   {r.status} {pages[key][len(base):]}")
            continue
        page_sizes[key] = r
        say(f"  {names[key] + ' page':<40} {kb(len(r.body)):>9} KB {kb(len(r.raw)):>9} KB   "
            f"{r.encoding or 'identity'}, {pages[key][len(base):]}")
        try:
            live, _etag, poll = live_attrs(r.body.decode("utf-8"))
        except RuntimeError as exc:
            say(f"    ({exc})")
            continue
        one_off(http, base, f"{names[key]} live fragment", urljoin(pages[key], live))
    new_list = get_wire(http, f"{base}/events/{SLUG}/status/incidents")
    if new_list.status == 200:
        say(f"  {'incident list page (new)':<40} {kb(len(new_list.body)):>9} KB {kb(len(new_list.raw)):>9} KB   "
            f"{new_list.encoding or 'identity'}, /events/{SLUG}/status/incidents")
    else:
        say(f"  {'incident list page (new)':<40} {'-':>12} {'-':>12}   {new_list.status} "
            f"/events/{SLUG}/status/incidents")

    # The dashboards, opened as a browser opens them: the page, then its script polls data-live.
    dashboards = []
    for key in args.dashboards:
        dash = Dashboard(names[key], pages[key])
        page = get_wire(http, pages[key])
        if page.status != 200:
            raise RuntimeError(f"{pages[key]}: {page.status}")
        live, etag, poll = live_attrs(page.body.decode("utf-8"))
        dash.url, dash.etag = urljoin(pages[key], live), etag
        say(f"\n{dash.name}: data-live {live}  data-etag {etag}  data-poll {poll} (polled every {args.poll:g} s)")
        # Before any write: the page's own ETag must give a 304.
        first = get_wire(http, dash.url, {"X-Requested-With": "status.js", "If-None-Match": etag})
        if first.status != 304:
            failures.append(f"{dash.name}: the page's data-etag {etag} was answered {first.status}, not 304")
            say(f"  ! the page's ETag was answered {first.status} (expected 304)")
        dashboards.append(dash)

    writer = Writer(base, ctx["operator_token"], [e for e, _ in ctx["endpoints"]], args.rate)
    stop = threading.Event()
    threads = [threading.Thread(target=writer.run, args=(stop,), daemon=True)]
    for dash in dashboards:
        session = sign_in(base, OPERATOR, args.accept_encoding)  # one browser (cookie) per open dashboard
        threads.append(threading.Thread(target=poller, args=(dash, session, stop, args.poll, args.verify),
                                        daemon=True))
    cpu_before = product.worker_cpu()
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join(120)
    window = time.monotonic() - t0
    cpu_after = product.worker_cpu()
    cpu = sum(v - cpu_before.get(pid, 0.0) for pid, v in cpu_after.items())
    gone = set(cpu_before) - set(cpu_after)
    minutes = window / 60

    say(f"\nwindow {window:.1f} s: {writer.sent} check-ins sent at {args.rate:g}/s, polls every {args.poll:g} s "
        f"after each answer, Accept-Encoding: {args.accept_encoding}")
    head = (f"  {'dashboard':<24} {'polls':>5} {'200':>4} {'304':>4} {'other':>5} {'wire KB/min':>11} "
            f"{'+headers':>9} {'dec KB/200':>10} {'wire KB/200':>11} {'p50 ms':>7} {'p95 ms':>7}")
    say(head)
    say("  " + "-" * (len(head) - 2))
    for d in dashboards:
        other = d.polls - d.status[200] - d.status[304]
        mean_dec = statistics.mean(d.decoded_200) if d.decoded_200 else 0
        mean_wire = statistics.mean(d.wire_200) if d.wire_200 else 0
        say(f"  {d.name:<24} {d.polls:>5} {d.status[200]:>4} {d.status[304]:>4} {other:>5} "
            f"{kb(d.wire_body / minutes):>11} {kb((d.wire_body + d.wire_headers) / minutes):>9} "
            f"{kb(mean_dec):>10} {kb(mean_wire):>11} {pct(d.latencies, .5) * 1000:>7.0f} "
            f"{pct(d.latencies, .95) * 1000:>7.0f}")
        if other:
            failures.append(f"{d.name}: {other} polls answered neither 200 nor 304: {dict(d.status)}")
    say("  (wire KB/min: response bodies as sent, compressed; +headers: with the status line and headers; "
        "KB = 1,000 bytes)")
    say(f"  gunicorn workers' CPU over the window: {cpu:.2f} s ({cpu / window * 100:.0f} % of one core; "
        f"{len(cpu_after)} workers" + (f", {len(gone)} exited during the window: their CPU is missing" if gone else "")
        + ")")
    ok = writer.status[201]
    say(f"  check-ins: {writer.sent} sent, {ok} answered 201 ({ok / window:.2f}/s), "
        f"{writer.incidents_open} left an incident open; latency p50 {pct(writer.latencies, .5) * 1000:.0f} ms, "
        f"p95 {pct(writer.latencies, .95) * 1000:.0f} ms")
    if ok != writer.sent:
        failures.append(f"check-ins: {writer.sent - ok} not answered 201: {dict(writer.status)}")
        for line in writer.other:
            say(f"    ! {line}")

    for d in dashboards:
        if d.verify_304:
            say(f"  {d.name}: after each 304, an unconditional GET: {dict(d.verify_304)}")
        for p in d.problems:
            say(f"  ! {d.name}: {p}")
            failures.append(f"{d.name}: {p}")

    # Quiet: no writes any more. A fresh ETag must give 304, and the fragment must stay put.
    time.sleep(1)
    say("\nafter the window (no writes): GET, GET with its ETag, GET again")
    for d in dashboards:
        a = get_wire(http, d.url, {"X-Requested-With": "status.js"})
        cond = get_wire(http, d.url, {"X-Requested-With": "status.js", "If-None-Match": a.etag})
        b = get_wire(http, d.url, {"X-Requested-With": "status.js"})
        same = a.status == b.status == 200 and a.etag == b.etag and a.body == b.body
        if cond.status != 304:
            failures.append(f"{d.name}: without writes, its own ETag {a.etag} was answered {cond.status}")
        if not same:
            failures.append(f"{d.name}: two GETs without writes in between differ (ETag {a.etag} / {b.etag}, "
                            f"body {'same' if a.body == b.body else 'different'})")
        say(f"  {d.name:<24} conditional {cond.status}; the two GETs: "
            f"{'same ETag and body' if same else 'DIFFERENT'} (ETag {a.etag})")
    return failures


# --- main -----------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO, help="the product checkout to measure")
    parser.add_argument("--database-url", default=None,
                        help="postgresql://… (a scratch schema is created and dropped); default a temp SQLite file")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=3, help="check-ins per second")
    parser.add_argument("--poll", type=float, default=5, help="seconds between a poll's answer and the next")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="keep the first N units (tree order)")
    parser.add_argument("--dashboards", default="national,hanoi",
                        help="comma-separated: national, hanoi, incidents (TW?filter=incident)")
    parser.add_argument("--accept-encoding", default="gzip")
    parser.add_argument("--verify", action="store_true",
                        help="after each 304, GET unconditionally and compare (extra load, not counted)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (gunicorn log) for inspection")
    args = parser.parse_args()
    args.dashboards = [d.strip() for d in args.dashboards.split(",") if d.strip()]
    if any(d not in ("national", "hanoi", "incidents") for d in args.dashboards):
        parser.error("--dashboards: national, hanoi, incidents")
    repo = args.repo.resolve()
    if not (repo / "app.py").exists():
        parser.error(f"{repo} has no app.py")
    commit = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()

    tmp = Path(tempfile.mkdtemp(prefix="live-bytes-"))
    product = database = None
    failures: list[str] = []
    try:
        database = Database(args.database_url, tmp)
        product = Product(repo, database.url, tmp)
        say(f"== {repo} @ {commit[:90]}{' (+ uncommitted changes)' if dirty else ''}")
        say(f"== {database.label}; {args.workers} gunicorn workers; {args.seconds:g} s at {args.rate:g} "
            f"check-ins/s; polls every {args.poll:g} s" + (f"; --limit {args.limit}" if args.limit else ""))
        ctx = setup(product, args)
        failures = measure(product, ctx, args)
    except BaseException:
        if product is not None and product.process is not None:
            say("\n--- gunicorn log (tail) ---\n" + product.tail())
        raise
    finally:
        if product is not None:
            product.stop()
        if database is not None:
            try:
                database.drop()
            except Exception as exc:  # noqa: BLE001
                say(f"(could not drop schema {database.schema}: {exc})")
        if args.keep:
            say(f"(temp dir kept: {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        say(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            say(f"  - {f}")
        return 1
    say("\nchecks: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
