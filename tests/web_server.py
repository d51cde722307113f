"""The real web server in a subprocess (`python -m insightcap serve`) and a real headless Chromium,
for the browser tests. Chromium is Debian's /usr/bin/chromium driven by pip's playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.org", "the admin's long password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a freshly started server on its own data dir, with the fast ASR model."""
    data_dir = tmp_path_factory.mktemp("web-data")
    port = _free_port()
    env = {**os.environ, "INSIGHTCAP_ASR_MODEL": "whisper-tiny-en", "INSIGHTCAP_GENERATOR": "none",
           "HF_HUB_OFFLINE": "1", "INSIGHTCAP_DATA_DIR": str(data_dir)}
    # The first admin, made the way the README says; without one `serve` refuses to start.
    subprocess.run([sys.executable, "-m", "insightcap", "user", "add", ADMIN_EMAIL, "--role", "admin",
                    "--password-stdin"], input=ADMIN_PASSWORD + "\n", text=True, env=env, check=True,
                   capture_output=True)
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "insightcap", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {(data_dir / 'server.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt install chromium)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def signed_in_page(browser, server: str, viewport: dict[str, int], email: str = ADMIN_EMAIL,
                   password: str = ADMIN_PASSWORD):
    """A fresh browser context signed in through the real sign-in form."""
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{server}/")
    page.wait_for_url(f"{server}/login?next=%2F")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(f"{server}/")
    return page
