"""Password guessing: failed sign-ins are counted per address across accounts (spraying) and per
account across addresses; successful sign-ins count for nothing; and several web workers must
share their counts (memory:// storage with more than one worker is refused at start)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from factories import PASSWORD, ROOT, csrf_from

EN = {"Accept-Language": "en"}


def _attempt(client, email: str, password: str, address: str = "127.0.0.1") -> int:
    env = {"REMOTE_ADDR": address}
    token = csrf_from(client.get("/login", environ_base=env).get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       headers=EN, environ_base=env).status_code


def _limit(app, name: str) -> int:
    return int(app.config[name].split()[0])  # the first (per minute) count: "30 per minute;300 per hour"


def test_spraying_one_password_over_many_accounts_from_one_address_is_throttled(app, client):
    per_address = _limit(app, "LOGIN_RATE_LIMIT_PER_ADDRESS")
    codes = [_attempt(client, f"canbo{i}@example.gov.vn", "Matkhau@2024") for i in range(60)]
    assert codes == [400] * per_address + [429] * (60 - per_address)
    # Another address is not held back by this one.
    assert _attempt(client, "canbo0@example.gov.vn", "Matkhau@2024", address="203.0.113.9") == 400


def test_guessing_one_account_from_many_addresses_is_throttled(app, client, make_user):
    make_user("kh@example.gov.vn", "coordinator", "56")
    per_account = _limit(app, "LOGIN_RATE_LIMIT")
    codes = [_attempt(client, "kh@example.gov.vn", f"guess-{i}", address=f"198.51.100.{i}")
             for i in range(per_account + 1)]
    assert codes == [400] * per_account + [429]
    # The account is held for the rest of the minute, whatever the address and the password.
    assert _attempt(client, "KH@example.gov.vn", PASSWORD, address="192.0.2.1") == 429
    # Other accounts are not.
    make_user("org@example.gov.vn", "organizer")
    assert _attempt(client, "org@example.gov.vn", PASSWORD, address="198.51.100.1") == 302


def test_successful_sign_ins_do_not_count(app, client, make_user):
    make_user("org@example.gov.vn", "organizer")
    per_account = _limit(app, "LOGIN_RATE_LIMIT")
    codes = []
    for _ in range(per_account + 5):
        codes.append(_attempt(client, "org@example.gov.vn", PASSWORD))
        if codes[-1] == 302:
            page = client.get("/events/").get_data(as_text=True)
            client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert codes == [302] * (per_account + 5)


def test_forgot_password_is_limited_per_address_across_accounts(app, client):
    per_address = _limit(app, "LOGIN_RATE_LIMIT_PER_ADDRESS")
    token = csrf_from(client.get("/password/forgot").get_data(as_text=True))
    codes = [client.post("/password/forgot", data={"email": f"x{i}@example.gov.vn", "csrf_token": token}).status_code
             for i in range(per_address + 1)]
    assert codes == [302] * per_address + [429]


# --- several workers -------------------------------------------------------------------------------

# What runs in gunicorn below tests the limiter's storage across processes, which does not depend
# on the database: it runs in the SQLite pass of the suite only (the PostgreSQL pass would start
# the same four gunicorns again for nothing).
several_workers = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                                     reason="the limiter storage does not depend on the database: SQLite pass only")


def _start(env: dict, workers: int) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "60", "app:app"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, port


def _env(database, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env.update({"DATABASE_URL": database.url, "SECRET_KEY": "test-secret-key", "PUBLIC_BASE_URL": "http://127.0.0.1",
                "MAIL_FILE_DIR": str(database.tmp_path / "mail")}, **extra)
    return env


@several_workers
def test_memory_storage_with_several_workers_is_refused_at_start(app, database):
    proc, _port = _start(_env(database, RATELIMIT_STORAGE_URI="memory://"), workers=2)
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("gunicorn with 2 workers and memory:// limiter storage started")
    assert proc.returncode != 0
    assert "RATELIMIT_STORAGE_URI" in output and "redis://" in output


def _redis_or_skip() -> str:
    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


def _wait_until_up(proc, base: str) -> None:
    for _ in range(150):
        try:
            requests.get(f"{base}/healthz", timeout=10)
            return
        except requests.RequestException:
            if proc.poll() is not None:
                pytest.fail(proc.stdout.read())
            time.sleep(0.2)
    pytest.fail("gunicorn did not answer")


def _spray(base: str, n: int) -> list[int]:
    codes = []
    for i in range(n):
        # A new connection each time, so that both workers answer (one process counting alone
        # would let 2 x the limit through).
        with requests.Session() as http:
            page = http.get(f"{base}/login", headers=EN, timeout=10)
            answer = http.post(f"{base}/login", headers={**EN, "Connection": "close"}, timeout=30, data={
                "email": f"canbo{i}@example.gov.vn", "password": "Matkhau@2024", "csrf_token": csrf_from(page.text)})
        codes.append(answer.status_code)
    return codes


def test_environment_asking_for_several_workers_with_memory_storage_is_refused(monkeypatch):
    from coordinator import create_app

    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URI.*redis://"):
        create_app({"TESTING": True})


@several_workers
def test_sign_in_still_works_while_redis_is_down(app, database):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens there once the socket is closed
    proc, port = _start(_env(database, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{dead}/0"), workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, base)
        codes = _spray(base, 3)
        assert codes == [400, 400, 400]  # wrong passwords, answered as such (not 500)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@several_workers
def test_two_workers_share_the_counts_in_redis(app, database):
    import redis

    url = _redis_or_skip()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    per_address = 8  # a small limit: each wrong password costs a scrypt
    proc, port = _start(_env(database, RATELIMIT_STORAGE_URI=url, RATELIMIT_KEY_PREFIX=prefix,
                             LOGIN_RATE_LIMIT_PER_ADDRESS=f"{per_address} per minute"), workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, base)
        codes = _spray(base, per_address + 10)
        assert codes == [400] * per_address + [429] * 10
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
        print(output[-3000:])
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
