"""Benchmark: how many dashboard polls a second the service answers when nothing changed (304),
with `wrk` as the load generator (a C client: the Python clients of the other benches cost more
CPU than the server they measure). National scale, on a fresh SQLite file and, when reachable, a
fresh PostgreSQL schema.

    .venv/bin/python bench/poll_rate.py [--only sqlite|pg] [--limit N] [--workers 4] [--seconds 15]
                                        [--connections 16] [--threads 4]

Setup: the national list imported into nd49, its test under way, published; a status for every
endpoint (operators' checks). Then `gunicorn -w WORKERS app:app` (sync workers, as the README
deploys it) and the same with `--worker-class gthread --threads THREADS` (keep-alive), each
measured for --seconds with --connections:
  - a static file's 304 (/static/app.css with If-None-Match): the framework's floor;
  - /healthz (SELECT 1);
  - the national live fragment's 304 (signed in as an operator, with the page's ETag), and Hà Nội's;
  - the national roll-up API's 304 (bearer token).
Each figure is wrk's requests/s; every answer must be the expected status (wrk's non-2xx/3xx
count and a Lua check of the status code), else the bench exits 1. Needs `wrk` (Debian: apt-get
install wrk).
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SECRET_KEY", "bench")

from harness import DEFAULT_PG, on_each_database, prepare_national  # noqa: E402
from import_national import national_rows  # noqa: E402

SLUG = "nd49-2024"
VENV_BIN = Path(sys.executable).parent
FAILURES: list[str] = []

LUA = """
wrk.method = "GET"
%(headers)s
local bad = 0
response = function(status, headers, body)
  if status ~= %(status)d then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BAD %%d\\n", bad))
end
"""


def line(label: str, value: str) -> None:
    print(f"  {label:<58} {value}", flush=True)


def setup(limit: int | None) -> dict:
    from sqlalchemy import select

    from coordinator.auth.permissions import SystemActor
    from coordinator.auth.services import create_user, issue_token
    from coordinator.endpoints.models import Endpoint
    from coordinator.events.services import move_session, publish
    from coordinator.extensions import db
    from coordinator.imports import endpoints_io
    from coordinator.status import services as status
    from coordinator.timeutil import utcnow

    started = time.perf_counter()
    event, organizer, rows, _ = prepare_national(limit, national_rows)
    endpoints_io.import_endpoints(event, organizer, rows)
    now = utcnow().replace(microsecond=0)
    move_session(event, "connectivity_test", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=3))
    publish(event, actor=SystemActor("bench"))
    session = event.session("connectivity_test")
    ids = list(db.session.scalars(select(Endpoint.id).where(Endpoint.event_id == event.id)))
    for i in range(0, len(ids), 1000):
        status.record_many(event, session, [{"endpoint_id": e, "state": ("connected", "degraded", "failed")[
            0 if k % 20 < 17 else 1 if k % 20 < 19 else 2]} for k, e in enumerate(ids[i:i + 1000], start=i)])
    create_user("operator@example.gov.vn", "bench-password", "operator")
    token = issue_token(organizer, "bench")
    db.session.commit()
    db.session.remove()
    line("setup", f"{time.perf_counter() - started:.1f} s, {len(ids):,} endpoints")
    return {"token": token}


class Server:
    def __init__(self, url: str, args: list[str]):
        import requests

        from dashboard_national import _free_port

        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="poll-rate-")
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": os.environ["SECRET_KEY"],
               "CACHE_DIR": str(Path(self.tmp) / "cache"), "MAIL_FILE_DIR": str(Path(self.tmp) / "mail")}
        self.process = subprocess.Popen([str(VENV_BIN / "gunicorn"), *args, "-b", f"127.0.0.1:{self.port}", "app:app"],
                                        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def sign_in(base: str):
    import requests

    s = requests.Session()
    page = s.get(base + "/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = s.post(base + "/login", data={"email": "operator@example.gov.vn", "password": "bench-password",
                                      "csrf_token": token}, allow_redirects=False)
    assert r.status_code == 302, r.status_code
    return s


def live_of(s, base: str, path: str) -> tuple[str, str]:
    page = s.get(base + path).text
    box = re.search(r'<div id="status-live" data-live="([^"]+)" data-etag="([^"]+)"', page)
    url, etag = html.unescape(box.group(1)), html.unescape(box.group(2))
    assert s.get(base + url, headers={"If-None-Match": etag}).status_code == 304, "the page's ETag is not current"
    return url, etag


def wrk(base: str, path: str, headers: dict, status: int, args) -> float:
    lua = LUA % {"status": status, "headers": "\n".join(
        f'wrk.headers["{k}"] = "{v.replace(chr(34), chr(92) + chr(34))}"' for k, v in headers.items())}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
    try:
        out = subprocess.run(["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s", "-s", fh.name,
                              base + path], capture_output=True, text=True, timeout=args.seconds + 60).stdout
    finally:
        os.unlink(fh.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = int(re.search(r"BAD (\d+)", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or "Non-2xx" in out:
        FAILURES.append(f"{path}: {bad} answers were not {status}")
    if errors and "timeout 0" not in errors.group(1):
        line("    socket errors", errors.group(1))
    return rate


def measure(url: str, info: dict, args, label: str, gunicorn_args: list[str]) -> None:
    server = Server(url, gunicorn_args)
    try:
        s = sign_in(server.base)
        cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
        static_etag = s.get(server.base + "/static/app.css").headers["ETag"]
        national, national_tag = live_of(s, server.base, f"/events/{SLUG}/status")
        hanoi, hanoi_tag = live_of(s, server.base, f"/events/{SLUG}/status/01")
        api_tag = s.get(server.base + f"/api/v1/events/{SLUG}/status",
                        headers={"Authorization": f"Bearer {info['token']}"}).headers["ETag"]
        print(f"  -- {label}", flush=True)
        figures = [
            ("static file 304 (the framework's floor)", "/static/app.css", {"If-None-Match": static_etag}, 304),
            ("/healthz (SELECT 1)", "/healthz", {}, 200),
            ("national live fragment 304", national, {"Cookie": cookie, "If-None-Match": national_tag}, 304),
            ("Hà Nội live fragment 304", hanoi, {"Cookie": cookie, "If-None-Match": hanoi_tag}, 304),
            ("national roll-up API 304 (bearer token)", f"/api/v1/events/{SLUG}/status",
             {"Authorization": f"Bearer {info['token']}", "If-None-Match": api_tag}, 304),
        ]
        for name, path, headers, status in figures:
            line(name, f"{wrk(server.base, path, headers, status, args):8,.0f} requests/s")
    finally:
        server.stop()


def run(label: str, url: str, args) -> None:
    from coordinator import create_app

    print(f"\n== {label} ==", flush=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        info = setup(args.limit)
        from coordinator.extensions import db

        db.engine.dispose()
    measure(url, info, args, f"gunicorn -w {args.workers} (sync workers)", ["-w", str(args.workers)])
    measure(url, info, args, f"gunicorn -w {args.workers} --worker-class gthread --threads {args.threads} (keep-alive)",
            ["-w", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("sqlite", "pg"))
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    on_each_database(lambda label, url: run(label, url, args), args.pg, args.only)
    if FAILURES:
        print("\nFAILED CHECKS:\n  " + "\n  ".join(FAILURES))
        sys.exit(1)


if __name__ == "__main__":
    main()
