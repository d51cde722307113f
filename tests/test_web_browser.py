"""The pages a facilitator clicks, in real headless Chromium against the real server: upload the
JFK recording, watch it process, play the transcript, edit the memo (and collide with a second
editor), approve it, search, and jump to the moment. Screenshots go to artifacts/."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest

pytest_plugins = ["tests.web_server"]  # the server and browser fixtures
pytest.register_assert_rewrite("tests.web_server")
from tests.web_server import signed_in_page

REPO_ROOT = Path(__file__).resolve().parents[1]
JFK = REPO_ROOT / "examples" / "jfk-inaugural-excerpt.flac"
ARTIFACTS = REPO_ROOT / "artifacts"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shots() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser, server):
    signed_in = signed_in_page(browser, server, {"width": 1280, "height": 900})
    yield signed_in
    signed_in.context.close()


def test_a_document_is_refused_with_a_clear_message(server, page, shots) -> None:
    page.goto(f"{server}/upload")
    page.set_input_files("#file", files=[{"name": "minutes.mp3", "mimeType": "audio/mpeg",
                                          "buffer": (REPO_ROOT / "tests/fixtures/media/meeting.pdf").read_bytes()}])
    page.click("#upload-button")
    error = page.locator("#upload-error")
    error.wait_for(state="visible")
    assert "not audio or video (detected: PDF document)" in error.inner_text()
    page.screenshot(path=shots / "web-upload-refused.png")


def _wait_for_the_player_at(page, seconds: float, timeout: float = 30.0) -> None:
    """Until the player is within a second of `seconds`. Not page.wait_for_function: when its first
    check fails it polls with eval() in the page, which the app's Content-Security-Policy forbids (a
    slow machine loads the media after the first check)."""
    deadline = time.monotonic() + timeout
    while abs(page.evaluate("document.getElementById('player').currentTime") - seconds) >= 1:
        assert time.monotonic() < deadline, f"the player never reached {seconds} s"
        page.wait_for_timeout(100)


def test_upload_process_read_edit_conflict_approve_search(server, browser, page, shots) -> None:
    # Upload, with the progress bar, then the job page follows the stages live.
    page.goto(f"{server}/upload")
    page.set_input_files("#file", str(JFK))
    page.fill("#title", "Inaugural address")
    page.fill("#program", "Speeches circle")
    page.fill("#date", "1961-01-20")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/\w+"))
    page.locator(".stage-running, .stage-done").first.wait_for()
    page.screenshot(path=shots / "web-job-progress.png")
    page.locator("#job-done, #job-error").filter(visible=True).wait_for(timeout=150_000)
    assert page.locator("#job-error").is_hidden(), page.locator("#job-error-text").inner_text()
    job_url = page.url

    # Leaving and coming back shows the finished job.
    page.goto(f"{server}/")
    assert page.get_by_role("link", name="Inaugural address").is_visible()
    page.goto(job_url)
    assert page.locator("#job-done").is_visible()

    # The session: clicking a transcript line seeks the player and highlights the line.
    page.click("#job-done >> text=Open the session")
    lines = page.locator("#transcript button.line")
    assert lines.count() >= 2
    assert "country" in page.locator("#transcript").inner_text().lower()
    second = lines.nth(1)
    start = float(second.get_attribute("data-start"))
    second.click()
    _wait_for_the_player_at(page, start)
    page.wait_for_selector("#transcript li.current")
    page.screenshot(path=shots / "web-session.png", full_page=True)
    session_url = page.url.split("?")[0]

    # The memo: live preview, save as a new version.
    page.goto(f"{session_url}/memo")
    editor = page.locator("#markdown")
    editor.fill(editor.input_value() + "\n\n## Facilitator note\n\nA **strong** close.\n")
    page.locator("#preview strong", has_text="strong").wait_for()
    page.click("#save-memo")
    page.locator(".alert.success", has_text="Saved as version 2").wait_for()

    # Two editors on version 2: the second save gets the conflict view with both texts.
    other = signed_in_page(browser, server, PHONE)
    other.goto(f"{session_url}/memo")
    page.locator("#markdown").fill("Alice's version of the memo.")
    other.locator("#markdown").fill("Bob's version of the memo.")
    page.click("#save-memo")
    page.locator(".alert.success", has_text="Saved as version 3").wait_for()
    other.click("#save-memo")
    other.get_by_role("heading", name="Someone else saved this memo first").wait_for()
    assert other.locator("#markdown").input_value() == "Bob's version of the memo."
    assert other.locator("#theirs").input_value() == "Alice's version of the memo."
    other.screenshot(path=shots / "web-memo-conflict-phone.png", full_page=True)
    other.click("#save-mine")
    other.locator(".alert.success", has_text="Saved as version 4").wait_for()
    other.context.close()

    # History shows the diff; restore version 2, then approve.
    page.goto(f"{session_url}/memo/history?v=4")
    assert page.locator(".diff-added", has_text="Bob's version").is_visible()
    page.goto(f"{session_url}/memo/history?v=2")
    page.click("#restore")
    page.locator(".alert.success", has_text="Saved as version 5").wait_for()
    assert "A strong close." in page.locator("#preview").inner_text()
    page.click("#approve-memo")
    page.locator("#memo-status", has_text="Approved").wait_for()
    page.screenshot(path=shots / "web-memo-editor.png", full_page=True)
    pdf = page.request.get(server + page.get_attribute("a[href$='/export/pdf']", "href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")

    # Search, and click through to the moment.
    page.goto(f"{server}/search")
    page.fill("#q", "ask what you can do for your country")
    page.press("#q", "Enter")
    hit = page.locator("a.hit-link").first
    hit.wait_for()
    page.screenshot(path=shots / "web-search.png", full_page=True)
    moment = float(re.search(r"t=([\d.]+)", hit.get_attribute("href")).group(1))
    hit.click()
    page.wait_for_selector("#transcript li.current")
    current_start = float(page.locator("#transcript li.current").get_attribute("data-start"))
    current_end = float(page.locator("#transcript li.current").get_attribute("data-end"))
    assert current_start <= moment + 0.1 and moment < current_end + 0.1
    _wait_for_the_player_at(page, moment)

    # The list at phone width.
    phone = signed_in_page(browser, server, PHONE)
    phone.screenshot(path=shots / "web-sessions-phone.png", full_page=True)
    phone.context.close()


def import_transcript(page, server: str, path: Path, title: str, program: str) -> None:
    """Upload a transcript through the upload page, wait for processing, and open the session."""
    page.goto(f"{server}/upload")
    page.set_input_files("#file", str(path))
    page.fill("#title", title)
    page.fill("#program", program)
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/\w+"))
    page.locator("#job-done, #job-error").filter(visible=True).wait_for(timeout=90_000)
    assert page.locator("#job-error").is_hidden(), page.locator("#job-error-text").inner_text()
    page.click("#job-done >> text=Open the session")


def test_an_imported_transcript_gets_insights_and_speakers_can_be_renamed(server, page, shots) -> None:
    import_transcript(page, server, REPO_ROOT / "tests/fixtures/transcripts/zoom.vtt", "Feedback that lands",
                      "Mentoring cohort")
    assert page.locator("#player").count() == 0  # nothing to play for an imported transcript
    assert page.locator(".insights li").count() >= 1

    page.fill("#speaker-1", "Hannah (facilitator)")
    page.locator("#speaker-1 + button").click()
    page.wait_for_load_state()
    assert page.locator(".speaker", has_text="Hannah (facilitator)").count() >= 1
    assert page.locator(".speaker", has_text="Hannah Lee").count() == 0
    page.screenshot(path=shots / "web-session-transcript.png", full_page=True)


HOSTILE_TRANSCRIPT = """[Mallory <b onmouseover=alert(1)>] 00:00:01
Our plan <script>window.__xss = 1</script> uses the shared feedback template every week.

[Trent] 00:00:06
I will try <img src=x onerror="window.__xss = 2"> the feedback template with my mentees by Friday.

[Mallory <b onmouseover=alert(1)>] 00:00:12
Great, [click](javascript:window.__xss=3) and the template lives in our shared drive.
"""


def test_script_in_a_transcript_never_runs_in_any_page(server, page, tmp_path) -> None:
    """Transcript text, speaker names and titles are shown as text on every page: nothing executes."""
    hostile = tmp_path / "hostile_transcript.txt"  # a Zoom text export keeps angle brackets as text
    hostile.write_text(HOSTILE_TRANSCRIPT)
    import_transcript(page, server, hostile, '<img src=x onerror="window.__xss = 4">Circle', "Security circle")
    session_url = page.url.split("?")[0]
    for url in (session_url, f"{session_url}/memo", f"{server}/", f"{server}/search?q=template",
                f"{server}/themes?program=Security+circle"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, url
        assert page.locator("main script, main img[src='x']").count() == 0, url
    page.goto(session_url)
    assert page.locator("h1").inner_text() == '<img src=x onerror="window.__xss = 4">Circle'
    assert "javascript:window.__xss=3" in page.locator("#transcript").inner_text()
    page.goto(f"{session_url}/memo")
    page.fill("#markdown", page.input_value("#markdown") + '\n\n<script>window.__xss = 5</script> [x](javascript:alert(1))\n')
    page.wait_for_timeout(600)  # the live preview
    assert page.evaluate("window.__xss") is None
    assert page.locator("#preview a[href^='javascript']").count() == 0


def _answered_with(status: int):
    """A route handler answering every request with `status` (Playwright passes it the route and the request)."""
    return lambda route, _request: route.fulfill(status=status, json={"detail": "routed by the test"})


def test_the_job_page_stops_following_a_deleted_job_or_an_expired_sign_in(server, page) -> None:
    """What the job page does when polling gets no job: the answers are routed, and the page is served as
    if the job were still running, so its script polls whatever the real job did meanwhile."""
    page.goto(f"{server}/upload")
    page.set_input_files("#file", str(REPO_ROOT / "tests/fixtures/transcripts/zoom.vtt"))
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/\w+"))
    job_url = page.url

    def still_running(route) -> None:
        served = route.fetch()
        route.fulfill(response=served, body=re.sub(r'data-status="\w+"', 'data-status="running"', served.text()))

    page.route(re.compile(r"^http://[^/]+/jobs/\w+$"), still_running)
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/api/jobs/" in request.url else None)
    notice = page.locator("#job-notice")
    sign_in_again = "/login?next=" + quote(job_url.removeprefix(server), safe="")
    for status, says, link in ((404, "This session was deleted", "/"), (401, "Your sign-in has expired.", sign_in_again)):
        page.route("**/api/jobs/*", _answered_with(status))
        page.goto(job_url)
        notice.wait_for(state="visible")
        assert says in notice.inner_text() and notice.locator("a").get_attribute("href") == link
        asked = len(polls)
        page.wait_for_timeout(2500)
        assert len(polls) == asked, "the page kept polling after it said it stopped"
        page.unroute("**/api/jobs/*")

    # Other errors: it says so, asks again a little later, and carries on once the server answers.
    page.route("**/api/jobs/*", _answered_with(503), times=1)
    page.goto(job_url)
    notice.wait_for(state="visible")
    assert "could not report progress (error 503). Trying again in 2 s" in notice.inner_text()
    notice.wait_for(state="hidden", timeout=5000)
