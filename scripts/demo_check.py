"""CI check of `make demo`: start it as a newcomer would, walk the journey's first steps over
HTTP, stop it with Ctrl-C (SIGINT), and make sure nothing it started is left running.

    .venv/bin/python scripts/demo_check.py            # runs `make demo` itself
    .venv/bin/python scripts/demo_check.py --url http://127.0.0.1:8000   # a demo already up

Steps: the demo sign-in as a developer (Kenji Tanaka), a key request within the auto-approval
policy, the key going live, the one reveal, and the page's curl snippet run as is (it must get
the mock model's answer from the demo's LiteLLM proxy). Prints how long each part took.
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Demo ready in \S+: (http://\S+)/")
DEVELOPER = "tanaka.kenji@demo.example"


class Client:
    """A browser-like HTTP client (cookies, no automatic redirects); standard library only, so
    the check runs before the portal's virtualenv exists."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), self._NoRedirect
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body)  # noqa: S310
        if data is not None:
            request.add_header("Referer", self.base_url + path)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as exc:  # 3xx (not followed) and errors
            return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)

    def get(self, path: str) -> str:
        status, text, _ = self.request(path)
        if status != 200:
            raise AssertionError(f"GET {path}: HTTP {status}")
        return text

    def post(self, path: str, data: dict) -> tuple[int, str, dict]:
        return self.request(path, data)


def csrf(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def sign_in(client: Client, email: str) -> None:
    page = client.get("/demo/sign-in/")
    row = re.search(rf'value="(\d+)"><button[^>]*data-demo-user="{re.escape(email)}"', page)
    status, _, _ = client.post(
        "/demo/sign-in/", {"user": row.group(1), "csrfmiddlewaretoken": csrf(page)}
    )
    assert status == 302, status


def request_key(client: Client, name: str) -> str:
    """Within Research's auto-approval policy (USD 20, 30 days): approved at once."""
    page = client.get("/keys/request/")
    department = re.search(r'<option value="(\d+)" selected', page).group(1)
    form = {
        "csrfmiddlewaretoken": csrf(page),
        "department": department,
        "name": name,
        "kind": "personal",
        "llm_models": "gpt-4o-mini",
        "max_budget": "5",
        "budget_duration": "30d",
        "rpm_limit": "60",
        "tpm_limit": "100000",
        "lifetime_days": "30",
        "justification": "Trying the demo.",
    }
    status, text, headers = client.post("/keys/request/", form)
    assert status == 302, text[-2000:]
    return headers["Location"]


def reveal(client: Client, key_url: str, timeout: float = 120) -> str:
    """Wait for the reveal button, reveal, return the curl snippet as the page shows it."""
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(key_url)
        match = re.search(r'<form method="post" action="([^"]+/reveal/)"', page)
        if match:
            break
        if 'data-status="failed"' in page or time.monotonic() > deadline:
            raise AssertionError(f"the key did not go live: {page[-3000:]}")
        time.sleep(1)
    status, text, _ = client.post(match.group(1), {"csrfmiddlewaretoken": csrf(page)})
    assert status == 200, status
    snippet = re.search(r'<pre id="snippet-curl"[^>]*>(.*?)</pre>', text, re.S).group(1)
    return html.unescape(snippet)


def run_snippet(snippet: str) -> str:
    command = ["bash", "-c", snippet]  # noqa: S607 (bash from PATH, as a person would)
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def journey(url: str) -> None:
    began = time.monotonic()
    client = Client(url)
    sign_in(client, DEVELOPER)
    key_url = request_key(client, f"ci-check-{int(time.time())}")
    snippet = reveal(client, key_url)
    answer = run_snippet(snippet)
    assert "Hello from the mock" in answer, answer
    print(f"[check] journey: signed in, key live, revealed, curl answered in "
          f"{time.monotonic() - began:.1f} s")  # fmt: skip


def leftovers(exclude: set[int]) -> list[str]:
    """Processes running from this checkout (cwd or command line), other than ours."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in exclude:
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(ROOT)) or str(ROOT) in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="check a demo that is already running")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for ready")
    args = parser.parse_args()
    if args.url:
        journey(args.url)
        return 0
    mine = {os.getpid(), os.getppid()}
    before = set(leftovers(mine))
    began = time.monotonic()
    command = ["make", "demo"]  # noqa: S607 (make from PATH, as a person would)
    make = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # like a terminal: Ctrl-C goes to make and the supervisor
    )  # fmt: skip
    url = None
    try:
        for line in make.stdout:
            print(line, end="", flush=True)
            if time.monotonic() - began > args.timeout:
                raise AssertionError(f"not ready within {args.timeout:.0f} s")
            if match := READY.search(line):
                url = match.group(1)
                break
        if url is None:
            raise AssertionError(f"make demo ended before it was ready (exit {make.wait()})")
        print(f"[check] ready after {time.monotonic() - began:.1f} s")
        journey(url)
    finally:
        stopping = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = make.communicate(timeout=120)
        print(rest, end="")
        print(f"[check] stopped in {time.monotonic() - stopping:.1f} s")
    time.sleep(1)
    left = [p for p in leftovers(mine) if p not in before]
    if left:
        print("[check] left running after Ctrl-C:\n  " + "\n  ".join(left))
        return 1
    print("[check] nothing left running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
