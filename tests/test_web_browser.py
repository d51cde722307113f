"""The pages a facilitator clicks, in real headless Chromium against the real server: upload the
JFK recording, watch it process, play the transcript, edit the memo (and collide with a second
editor), approve it, search, and jump to the moment. Screenshots go to artifacts/."""

from __future__ import annotations

import io
import re
import time
import wave
from pathlib import Path
from urllib.parse import quote

import pytest

pytest_plugins = ["tests.web_server"]  # the server and browser fixtures
pytest.register_assert_rewrite("tests.web_server")
from tests.web_server import ADMIN_EMAIL, ADMIN_PASSWORD, signed_in_page

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


def _line_in_view(page) -> bool:
    """Whether the transcript's current line is in the window, and not under the player stuck to its top."""
    return page.evaluate("""() => {
        const line = document.querySelector('#transcript li.current').getBoundingClientRect();
        const player = document.querySelector('.player-wrap').getBoundingClientRect();
        return line.top >= player.bottom - 1 && line.bottom <= window.innerHeight + 1;
    }""")


def _wait_until_the_line_is_in_view(page, timeout: float = 5.0) -> None:
    """Polled from here rather than in the page, for the reason _wait_for_the_player_at gives."""
    page.wait_for_selector("#transcript li.current")
    deadline = time.monotonic() + timeout
    while not _line_in_view(page):
        assert time.monotonic() < deadline, "the current transcript line never came into view"
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

    # A keyboard skips the transcript's lines (each a tab stop) in one step: the link shows once focused.
    skip = page.locator("a.skip-past")
    assert skip.bounding_box()["width"] <= 1
    skip.focus()
    assert skip.bounding_box()["width"] > 1 and "Skip the transcript" in skip.inner_text()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "speaker-1"

    # On a phone the insights come after the transcript: an insight's time link brings its line back
    # into view, below the player stuck to the top (at once, as the user asked for reduced motion).
    phone = signed_in_page(browser, server, {"width": 390, "height": 600})
    phone.emulate_media(reduced_motion="reduce")
    phone.goto(session_url)
    phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert phone.evaluate("document.getElementById('transcript').getBoundingClientRect().bottom") < 0
    insight_link = phone.locator("a.moment").first
    at = float(insight_link.get_attribute("data-start"))
    insight_link.click()
    _wait_until_the_line_is_in_view(phone)
    current = phone.locator("#transcript li.current")
    assert float(current.get_attribute("data-start")) <= at + 0.1 < float(current.get_attribute("data-end")) + 0.2
    phone.screenshot(path=shots / "web-session-insight-link-phone.png")
    phone.context.close()

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
    assert page.locator(".hit mark", has_text="ask what you can do for your country").count() >= 1
    page.screenshot(path=shots / "web-search.png", full_page=True)
    moment = float(re.search(r"t=([\d.]+)", hit.get_attribute("href")).group(1))
    hit.click()
    page.wait_for_selector("#transcript li.current")
    current_start = float(page.locator("#transcript li.current").get_attribute("data-start"))
    current_end = float(page.locator("#transcript li.current").get_attribute("data-end"))
    assert current_start <= moment + 0.1 and moment < current_end + 0.1
    _wait_until_the_line_is_in_view(page)
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

    # A name another speaker goes by is refused by its form, on the session page, with what was typed
    # kept and the focus there; fixed in place, it is saved.
    page.fill("#speaker-2", "hannah (FACILITATOR)")
    page.locator("#speaker-2 + button").click()
    error = page.locator("#speaker-2-error")
    error.wait_for()
    assert "is taken: another speaker in this session is Hannah (facilitator)" in error.inner_text()
    assert page.input_value("#speaker-2") == "hannah (FACILITATOR)"
    assert page.evaluate("document.activeElement.id") == "speaker-2"
    assert page.locator("#transcript").is_visible()
    page.screenshot(path=shots / "web-speaker-name-taken.png")
    page.fill("#speaker-2", "Marcus J.")
    page.locator("#speaker-2 + button").click()
    page.wait_for_url(re.compile(r"/sessions/\w+#speakers$"))
    assert page.locator("#speaker-2-error").count() == 0
    assert page.locator(".speaker", has_text="Marcus J.").count() >= 1


def test_typed_memo_text_survives_an_expired_sign_in_and_approval_waits_for_it(server, browser, page, shots) -> None:
    """Nothing typed into the memo is lost: memo.js keeps it in the browser until a save succeeds."""
    import_transcript(page, server, REPO_ROOT / "tests/fixtures/transcripts/zoom.vtt", "Drafts kept", "Drafts circle")
    memo_url = page.url.split("?")[0] + "/memo"
    page.goto(memo_url)
    editor, approve, hint = page.locator("#markdown"), page.locator("#approve-memo"), page.locator("#approve-hint")
    generated = editor.input_value()
    assert approve.is_enabled() and hint.is_hidden()

    # Unsaved changes hold approval back, saying why beside the button.
    typed = generated + "\n\nA paragraph typed before the sign-in expired.\n"
    editor.fill(typed)
    assert approve.is_disabled() and hint.inner_text() == "Save your changes first, then approve."

    # The sign-in ends; saving leads to the sign-in page, which says why and goes back to the editor,
    # where the text is back, marked as not saved yet.
    page.context.clear_cookies()
    page.click("#save-memo")
    page.wait_for_url(re.compile(r"/login\?next=.*why=unsent"))
    assert "what you just sent was not saved" in page.locator("#login-reason").inner_text()
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(memo_url)
    page.locator("#draft-restored").wait_for()
    assert "Your unsaved text from earlier is back" in page.locator("#draft-restored-text").inner_text()
    assert editor.input_value() == typed and approve.is_disabled()
    page.screenshot(path=shots / "web-memo-draft-restored.png", full_page=True)
    page.click("#save-memo")
    page.locator(".alert.success", has_text="Saved as version 2.").wait_for()
    page.wait_for_url(memo_url)  # the saved marker leaves the address once the kept text is forgotten
    page.reload()
    assert page.locator("#draft-restored").is_hidden() and approve.is_enabled()

    # Saving an approved memo says it needs approving again.
    approve.click()
    page.locator("#memo-status", has_text="Approved").wait_for()
    editor.fill(editor.input_value() + "\nOne more line.\n")
    page.click("#save-memo")
    page.locator(".alert.success", has_text="version 3 is a draft again until someone approves it").wait_for()

    # Text kept while someone else saved: brought back, and saving it shows the conflict view.
    page.on("dialog", lambda dialog: dialog.accept())  # the browser's own "Leave site?" when reloading
    editor.fill("Text typed on version 3.")
    other = signed_in_page(browser, server, PHONE)
    other.goto(memo_url)
    other.locator("#markdown").fill("Version 4, by someone else.")
    other.click("#save-memo")
    other.locator(".alert.success", has_text="Saved as version 4.").wait_for()
    other.context.close()
    page.reload()
    page.locator("#draft-restored-text", has_text="based on version 3, and version 4 has been saved since").wait_for()
    assert editor.input_value() == "Text typed on version 3."
    page.click("#save-memo")
    page.get_by_role("heading", name="Someone else saved this memo first").wait_for()
    assert page.locator("#markdown").input_value() == "Text typed on version 3."
    assert page.locator("#theirs").input_value() == "Version 4, by someone else."
    page.click("#discard-mine")
    page.locator("#save-memo").wait_for()  # the editor again (its address is the conflict page's)
    page.wait_for_load_state()
    assert page.locator("#draft-restored").is_hidden() and editor.input_value() == "Version 4, by someone else."
    page.reload()
    assert page.locator("#draft-restored").is_hidden()  # the kept text was forgotten, not only hidden

    # Kept text can be discarded on the spot.
    editor.fill("Second thoughts.")
    page.reload()
    page.locator("#draft-restored").wait_for()
    page.click("#discard-draft")
    assert editor.input_value() == "Version 4, by someone else." and approve.is_enabled()
    assert page.locator("#draft-restored").is_hidden() and page.locator("#dirty").inner_text() == ""
    page.reload()
    assert page.locator("#draft-restored").is_hidden()

    # An empty memo is refused on the editor itself, the (empty) text kept and approval held back.
    editor.fill("")
    page.click("#save-memo")
    assert "An empty memo cannot be saved" in page.locator("#memo-error").inner_text()
    assert editor.input_value() == "" and approve.is_disabled() and hint.is_visible()
    page.screenshot(path=shots / "web-memo-empty-refused.png", full_page=True)
    page.click("#show-saved")
    page.locator("#memo-error").wait_for(state="detached")
    page.wait_for_load_state()
    assert editor.input_value() == "Version 4, by someone else." and page.locator("#draft-restored").is_hidden()

    # Signing out forgets the text this browser kept for the account: the next person here must not find it.
    editor.fill("Unsaved when signing out.")
    page.wait_for_function("Object.keys(localStorage).some(key => key.startsWith('insightcap.memo-draft.'))")
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/login"))
    assert page.evaluate("Object.keys(localStorage).filter(key => key.startsWith('insightcap.memo-draft.'))") == []


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
    # Search results mark the words looked for in the hostile text, and nothing else becomes markup.
    page.goto(f"{server}/search?q=template")
    assert page.locator(".hit mark").first.inner_text().lower().startswith("template")
    assert page.locator("main [onmouseover], main [onerror], main [onclick]").count() == 0
    page.goto(session_url)
    assert page.locator("h1").inner_text() == '<img src=x onerror="window.__xss = 4">Circle'
    assert "javascript:window.__xss=3" in page.locator("#transcript").inner_text()
    page.goto(f"{session_url}/memo")
    page.fill("#markdown", page.input_value("#markdown") + '\n\n<script>window.__xss = 5</script> [x](javascript:alert(1))\n')
    page.wait_for_timeout(600)  # the live preview
    assert page.evaluate("window.__xss") is None
    assert page.locator("#preview a[href^='javascript']").count() == 0


def _silent_wav(seconds: float = 3.0) -> bytes:
    """A WAV of digital silence: a muted microphone, which insightcap refuses as unusable."""
    frames = io.BytesIO()
    with wave.open(frames, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(bytes(int(16_000 * seconds) * 2))
    return frames.getvalue()


def test_an_unusable_recording_leaves_only_its_reason_and_a_way_on(server, page, shots) -> None:
    """A silent recording: the job page turns from processing to "could not be used", with the reason,
    no Retry and a way to upload another; no dead session is left in Sessions, which says what became of it."""
    page.goto(f"{server}/upload")
    page.set_input_files("#file", files=[{"name": "muted-mic.wav", "mimeType": "audio/wav", "buffer": _silent_wav()}])
    page.fill("#title", "Muted circle")
    page.fill("#program", "Unusable recordings circle")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/\w+"))
    page.locator("#upload-another").wait_for(timeout=60_000)
    heading = page.locator("#job-title")
    assert " ".join(heading.inner_text().split()) == "“Muted circle” could not be used"
    assert "muted-mic.wav contains no audible sound" in page.locator("#job-error-text").inner_text()
    assert page.locator("#job-message").inner_text() == "Stopped: nothing can be made of this recording."
    assert page.locator("#retry-form").is_hidden() and page.locator("#job-done").is_hidden()
    assert "processing carries on" not in page.locator("#job").inner_text()
    page.screenshot(path=shots / "web-job-unusable.png")

    page.reload()  # the session is gone, the reason stays
    assert " ".join(heading.inner_text().split()) == "“Muted circle” could not be used"
    page.click("#upload-another >> text=Upload another recording")
    page.wait_for_url(f"{server}/upload")

    page.goto(f"{server}/")
    assert page.get_by_role("link", name="Muted circle").count() == 0
    refused = page.locator("#refused")
    assert "“Muted circle”" in refused.inner_text() and "muted-mic.wav contains no audible sound" in refused.inner_text()
    page.get_by_role("button", name="Delete the note about “Muted circle”").click()
    page.wait_for_url(f"{server}/?refusal_deleted=1")
    assert page.locator("#refused").count() == 0
    assert "The note of the refused recording was deleted." in page.locator("main").inner_text()
    page.goto(f"{server}/themes?program=Unusable+recordings+circle")
    assert page.locator("th.session-col").count() == 0


def test_the_same_file_again_is_refused_with_a_link_to_its_session(server, page) -> None:
    captions = REPO_ROOT / "tests/fixtures/transcripts/captions.srt"
    import_transcript(page, server, captions, "Captions circle", "Duplicates circle")
    session_url = page.url.split("?")[0]
    page.goto(f"{server}/upload")
    page.set_input_files("#file", str(captions))
    page.fill("#program", "Duplicates circle")
    page.click("#upload-button")
    error = page.locator("#upload-error")
    error.wait_for(state="visible")
    assert "already added to Duplicates circle" in error.inner_text()
    assert session_url.rsplit("/", 1)[1] not in error.inner_text()  # named by title and date, not by id
    link = error.get_by_role("link", name=re.compile(r"^Open “Captions circle” \(added \d{4}-\d\d-\d\d\)$"))
    link.click()
    page.wait_for_url(session_url)


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
