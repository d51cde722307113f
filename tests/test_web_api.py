"""The web app through its real ASGI stack (FastAPI's TestClient): uploads, jobs, sessions, memos,
exports, search, and the pages' error handling. Processing itself is not run here (the queue only
records jobs) except in the startup-resume test, which runs stand-in stages like tests/test_jobs.py."""

from __future__ import annotations

import asyncio
import html
import io
import re
import time
from datetime import date
from pathlib import Path

import pytest

from insightcap.auth import audit
from insightcap.auth.schema import Role
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope

pytest_plugins = ["tests.web_fixtures"]  # the client, queue and seeded_session fixtures
pytest.register_assert_rewrite("tests.web_fixtures")
from tests.web_fixtures import FIRST_MEMO, FIXTURES, ZOOM_VTT, make_account

JFK = FIXTURES.parents[1] / "examples" / "jfk-inaugural-excerpt.flac"


def _stored_files(settings) -> list:
    return [path for path in settings.data_dir.rglob("*") if path.is_file() and path.parent.name != "logs"
            and not path.name.startswith("insightcap.db")]


def test_health_and_openapi_document_every_action(client) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    document = client.get("/openapi.json").json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    for path in ("/api/sessions", "/api/jobs/{job_id}", "/api/sessions/{session_id}", "/api/sessions/{session_id}/memo",
                 "/api/search", "/api/sessions/{session_id}/memo/export/{fmt}", "/api/jobs/{job_id}/retry"):
        assert path in paths
    assert "multipart/form-data" in paths["/api/sessions"]["post"]["requestBody"]["content"]
    assert "409" in paths["/api/sessions/{session_id}/memo"]["put"]["responses"]
    assert schemas["JobOut"]["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}
    assert schemas["JobStatus"]["enum"] == ["queued", "running", "done", "failed"]
    assert schemas["SessionStatus"]["enum"] == ["queued", "processing", "ready", "failed"]
    assert schemas["MemoStatus"]["enum"] == ["draft", "approved"]
    assert schemas["MemoVersionOut"]["properties"]["status"] == {"$ref": "#/components/schemas/MemoStatus"}


def test_transcript_upload_is_routed_to_import_and_queued(client, queue, settings) -> None:
    with ZOOM_VTT.open("rb") as handle:
        response = client.post("/api/sessions", files={"file": ("zoom.vtt", handle, "text/vtt")},
                               data={"title": "Cohort call", "program": "Mentoring", "date": "2026-11-20"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert queue.submitted == [body["job_id"]]
    detail = client.get(f"/api/sessions/{body['id']}").json()
    assert detail["title"] == "Cohort call" and detail["program"] == "Mentoring" and detail["date"] == "2026-11-20"
    assert detail["source_kind"] == "transcript" and detail["media_url"] is None
    assert detail["transcript"][0]["speaker"] == "Hannah Lee"
    job = client.get(f"/api/jobs/{body['job_id']}").json()
    assert job["status"] == "queued" and [s["name"] for s in job["stages"]] == ["structure", "embed", "memo"]
    assert not list((settings.data_dir / "uploads").iterdir()), "the temporary upload must be gone"


def test_the_upload_form_works_without_javascript(client, queue) -> None:
    with ZOOM_VTT.open("rb") as handle:
        response = client.post("/upload", files={"file": ("zoom.vtt", handle, "text/vtt")}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/jobs/{queue.submitted[0]}"
    refused = client.post("/upload", files={"file": ("notes.docx", b"PK\x03\x04" + bytes(5000))},
                          data={"title": "Week 3 circle", "date": "2026-11-20", "speakers": "4"})
    assert refused.status_code == 415 and "ZIP archive" in refused.text and '<form id="upload-form"' in refused.text
    # The form comes back as it was filled in: only the file has to be chosen again.
    for field, value in (("title", "Week 3 circle"), ("date", "2026-11-20"), ("speakers", "4")):
        assert re.search(rf'<input id="{field}" [^>]*value="{value}"', refused.text)
    # A browser sends the fields in the form's order: the file last, so they are read before it is refused.
    form = client.get("/upload").text
    assert all(form.index(f'id="{field}"') < form.index('id="file"') for field in ("title", "program", "date", "speakers"))


def test_the_same_file_again_links_to_its_session_by_title_and_date(client, queue) -> None:
    with ZOOM_VTT.open("rb") as handle:
        first = client.post("/api/sessions", files={"file": ("zoom.vtt", handle, "text/vtt")},
                            data={"title": "Cohort call", "program": "Mentoring", "date": "2026-11-20"}).json()
    with ZOOM_VTT.open("rb") as handle:
        again = client.post("/api/sessions", files={"file": ("again.vtt", handle, "text/vtt")}, data={"program": "Mentoring"})
    assert again.status_code == 422 and first["id"] not in again.json()["detail"]  # an id means nothing to the uploader
    assert again.json()["detail"].endswith("as the session “Cohort call”. To process the file again, delete that session first.")
    assert again.json()["link"] == {"url": f"/sessions/{first['id']}", "text": "Open “Cohort call” (2026-11-20)"}
    with ZOOM_VTT.open("rb") as handle:  # the form without JavaScript says the same
        page = client.post("/upload", files={"file": ("again.vtt", handle, "text/vtt")}, data={"program": "Mentoring"}).text
    assert f'delete that session first. <a href="/sessions/{first["id"]}">Open “Cohort call” (2026-11-20)</a></div>' in page
    assert queue.submitted == [first["job_id"]]


def test_recording_upload_is_stored_and_served_with_range_requests(client, settings) -> None:
    with JFK.open("rb") as handle:
        response = client.post("/api/sessions", files={"file": ("jfk inaugural.flac", handle, "audio/flac")})
    assert response.status_code == 202, response.text
    detail = client.get(f"/api/sessions/{response.json()['id']}").json()
    assert detail["title"] == "jfk inaugural" and detail["media_type"] == "audio/flac"
    partial = client.get(detail["media_url"], headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == JFK.read_bytes()[100:200]
    assert partial.headers["content-range"] == f"bytes 100-199/{JFK.stat().st_size}"


def test_a_document_is_refused_in_plain_words_and_leaves_nothing(client, queue, settings) -> None:
    pdf = FIXTURES / "media" / "meeting.pdf"
    response = client.post("/api/sessions", files={"file": ("meeting.mp3", pdf.read_bytes(), "audio/mpeg")})
    assert response.status_code == 415
    assert "not audio or video (detected: PDF document)" in response.json()["detail"]
    assert "Traceback" not in response.text
    assert queue.submitted == [] and client.get("/api/sessions").json() == []
    assert _stored_files(settings) == []


def test_a_damaged_recording_is_refused_after_upload_and_leaves_nothing(client, settings) -> None:
    damaged = JFK.read_bytes()[:2000]  # a FLAC header and a few frames: the upload was cut short
    response = client.post("/api/sessions", files={"file": ("talk.flac", damaged, "audio/flac")})
    assert response.status_code == 422
    assert "talk.flac" in response.json()["detail"]
    assert client.get("/api/sessions").json() == [] and _stored_files(settings) == []


def test_an_oversized_upload_is_refused_before_it_is_read(client, settings) -> None:
    big = b"RIFF\x00\x00\x00\x00WAVE" + bytes(3 * 1024 * 1024)
    response = client.post("/api/sessions", files={"file": ("long.wav", big, "audio/wav")})
    assert response.status_code == 413
    assert "2.0 MB limit" in response.json()["detail"]
    assert _stored_files(settings) == []


def test_streaming_stops_at_the_limit_and_removes_the_partial_file(tmp_path) -> None:
    """Without a Content-Length (chunked upload) the limit is enforced while streaming."""
    from insightcap.web.uploads import UploadRejected, receive_upload

    boundary = "XyZ"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode() + b"RIFF\x00\x00\x00\x00WAVE"
    sent: list[int] = []

    async def body():
        yield head
        for _ in range(100):  # 100 x 64 KB, far beyond the 256 KB limit
            sent.append(1)
            yield bytes(65536)

    with pytest.raises(UploadRejected) as rejected:
        asyncio.run(receive_upload(f"multipart/form-data; boundary={boundary}", None, body(), tmp_path, 256 * 1024))
    assert rejected.value.status_code == 413
    assert len(sent) < 10, "reading must stop soon after the limit"
    assert list(tmp_path.iterdir()) == []


def test_a_dropped_connection_mid_upload_leaves_nothing(tmp_path) -> None:
    """The browser closing (or the network failing) halfway through: no partial file survives."""
    from starlette.requests import ClientDisconnect

    from insightcap.web.uploads import receive_upload

    boundary = "XyZ"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.flac\"\r\n"
            "Content-Type: audio/flac\r\n\r\n").encode() + JFK.read_bytes()[:200_000]

    async def body():
        yield head
        raise ClientDisconnect()

    with pytest.raises(ClientDisconnect):
        asyncio.run(receive_upload(f"multipart/form-data; boundary={boundary}", None, body(), tmp_path, 10**9))
    assert list(tmp_path.iterdir()) == []


def test_session_detail_and_speaker_rename_apply_everywhere(client, seeded_session) -> None:
    detail = client.get(f"/api/sessions/{seeded_session}").json()
    assert detail["speakers"][:2] == ["Hannah Lee", "Marcus Johnson"]
    assert [i["section"] for i in detail["insights"]] == ["context", "reaction"]
    renamed = client.put(f"/api/sessions/{seeded_session}/speakers", json={"speaker": "Marcus Johnson", "name": "Marcus J."})
    assert renamed.json() == {"Marcus Johnson": "Marcus J."}
    detail = client.get(f"/api/sessions/{seeded_session}").json()
    names = {s["speaker_name"] for s in detail["transcript"]}
    assert "Marcus J." in names and "Marcus Johnson" not in names
    assert detail["insights"][1]["speaker_name"] == "Marcus J."
    assert "Marcus J." in client.get("/api/sessions").json()[0]["participants"]
    page = client.get(f"/sessions/{seeded_session}").text
    assert '<strong class="speaker">Marcus J.</strong>' in page
    assert '<strong class="speaker">Marcus Johnson</strong>' not in page
    missing = client.put(f"/api/sessions/{seeded_session}/speakers", json={"speaker": "Nobody", "name": "X"})
    assert missing.status_code == 404


def test_memo_versions_conflicts_restore_and_approval(client, seeded_session) -> None:
    url = f"/api/sessions/{seeded_session}/memo"
    memo = client.get(url).json()
    assert memo == {**memo, "markdown": FIRST_MEMO, "version": 1, "status": "draft"}
    first_edit = FIRST_MEMO + "\n- Ask before advising.\n"
    saved = client.put(url, json={"markdown": first_edit, "version": 1})
    assert saved.status_code == 200 and saved.json()["version"] == 2

    # A second editor still on version 1: refused, and told what version 2 says.
    conflict = client.put(url, json={"markdown": FIRST_MEMO + "\n- Other edit.\n", "version": 1})
    assert conflict.status_code == 409
    assert conflict.json()["current"]["version"] == 2 and conflict.json()["current"]["markdown"] == first_edit
    assert [v["version"] for v in client.get(url + "/versions").json()] == [2, 1]

    diff = client.get(url + "/diff", params={"before": 1, "after": 2}).json()
    assert {"kind": "added", "text": "- Ask before advising."} in diff

    restored = client.post(url + "/restore", json={"restore_version": 1, "version": 2}).json()
    assert restored["version"] == 3 and restored["markdown"] == FIRST_MEMO

    assert client.put(url + "/status", json={"status": "approved", "version": 2}).status_code == 409
    approved = client.put(url + "/status", json={"status": "approved", "version": 3}).json()
    assert approved["status"] == "approved" and approved["version"] == 3
    # Editing an approved memo makes a new draft: approval applies to the text that was approved.
    assert client.put(url, json={"markdown": "# New", "version": 3}).json()["status"] == "draft"


def test_concurrent_form_saves_show_a_conflict_page_with_both_texts(client, seeded_session) -> None:
    page = f"/sessions/{seeded_session}/memo"
    first = client.post(page, data={"markdown": FIRST_MEMO + "\nAlice was here.\n", "version": 1}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].endswith("?saved=2")
    second = client.post(page, data={"markdown": FIRST_MEMO + "\nBob was here.\n", "version": 1})
    assert second.status_code == 409
    assert "Alice was here." in second.text and "Bob was here." in second.text
    assert 'name="version" value="2"' in second.text  # saving from the conflict page is based on the latest


def test_memo_exports(client, seeded_session) -> None:
    from docx import Document

    base = f"/api/sessions/{seeded_session}/memo/export"
    markdown = client.get(f"{base}/md")
    assert markdown.text == FIRST_MEMO and "attachment" in markdown.headers["content-disposition"]
    assert "<h1>Feedback that lands</h1>" in client.get(f"{base}/html").text
    document = Document(io.BytesIO(client.get(f"{base}/docx").content))
    assert [(p.style.name, p.text) for p in document.paragraphs][:2] == [("Heading 1", "Feedback that lands"),
                                                                       ("Heading 2", "Themes")]
    pdf = client.get(f"{base}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"{base}/rtf").status_code == 422


def test_a_word_memo_keeps_its_links(client, seeded_session) -> None:
    from docx import Document

    memo = FIRST_MEMO + "\n- “Try the buddy template” — Ana [01:05], see https://example.org/buddy.\n"
    client.post(f"/sessions/{seeded_session}/memo", data={"markdown": memo, "version": 1})
    document = Document(io.BytesIO(client.get(f"/api/sessions/{seeded_session}/memo/export/docx").content))
    item = document.paragraphs[-1]
    assert item.text == "“Try the buddy template” — Ana [01:05], see https://example.org/buddy."
    assert [(link.text, link.url) for link in item.hyperlinks] == [
        ("[01:05]", f"http://testserver/sessions/{seeded_session}?t=65"),
        ("https://example.org/buddy", "https://example.org/buddy"),
    ]


def test_an_exported_memo_links_back_to_the_app_it_was_downloaded_from(client, seeded_session) -> None:
    linked = FIRST_MEMO + f"\n[The moment]({'/sessions/' + seeded_session}?t=12)\n"
    client.post(f"/sessions/{seeded_session}/memo", data={"markdown": linked, "version": 1})
    exported = client.get(f"/api/sessions/{seeded_session}/memo/export/md").text
    assert f"[The moment](http://testserver/sessions/{seeded_session}?t=12)" in exported


def test_preview_never_renders_raw_html(client) -> None:
    html = client.post("/api/preview", json={"markdown": "**Hi** <script>alert(1)</script>"}).json()["html"]
    assert "<strong>Hi</strong>" in html and "<script>" not in html


def test_a_memo_shown_in_a_page_keeps_the_page_to_one_top_heading(client, seeded_session) -> None:
    """The memo's title is the page's second level, under "Memo: …", in the editor, its live preview
    and the read-only page; the exported HTML, a page of its own, keeps it first."""
    page = client.get(f"/sessions/{seeded_session}/memo").text
    assert page.count("<h1") == 1 and "<h2>Feedback that lands</h2>" in page
    preview = client.post("/api/preview", json={"markdown": "# Circle\n\n## Theme\n"}).json()["html"]
    assert preview == "<h2>Circle</h2>\n<h3>Theme</h3>\n"
    assert "<h1>Feedback that lands</h1>" in client.get(f"/api/sessions/{seeded_session}/memo/export/html").text


def test_preview_links_times_to_the_session_and_web_addresses(client, seeded_session) -> None:
    markdown = "At [00:12] and \\[1:00:07\\], see https://example.org/guide. <script>alert(1)</script>"
    html = client.post("/api/preview", json={"markdown": markdown, "session_id": seeded_session}).json()["html"]
    assert f'<a class="t" href="/sessions/{seeded_session}?t=12">[00:12]</a>' in html
    assert f'<a class="t" href="/sessions/{seeded_session}?t=3607">[1:00:07]</a>' in html
    assert '<a href="https://example.org/guide">https://example.org/guide</a>.' in html and "<script>" not in html


def test_a_memo_edited_in_the_app_exports_its_times_linked_to_the_app(client, seeded_session) -> None:
    client.post(f"/sessions/{seeded_session}/memo", data={"markdown": FIRST_MEMO + "\nAgreed at [00:12].\n", "version": 1})
    page = client.get(f"/api/sessions/{seeded_session}/memo/export/html").text
    assert f'<a class="t" href="http://testserver/sessions/{seeded_session}?t=12">[00:12]</a>' in page
    editor = client.get(f"/sessions/{seeded_session}/memo").text
    assert f'<a class="t" href="/sessions/{seeded_session}?t=12">[00:12]</a>' in editor


def test_jobs_report_progress_and_a_failed_job_can_be_retried(client, queue, seeded_session, settings) -> None:
    with session_scope(settings) as db:
        job = repo.create_job(db, seeded_session, ["structure", "embed", "memo"])
        job.status, job.stage, job.progress, job.completed_stages = "running", "embed", 0.5, ["structure"]
        job_id = job.id
    status = client.get(f"/api/jobs/{job_id}").json()
    assert status["progress"] == pytest.approx(0.5) and status["stage_label"] == "Indexing insights"
    assert [s["state"] for s in status["stages"]] == ["done", "running", "waiting"]
    assert client.post(f"/api/jobs/{job_id}/retry").status_code == 409  # it is not failed
    # The page's heading and text follow the job's state.
    page = client.get(f"/jobs/{job_id}").text
    assert '<span data-when="running">Processing “Feedback circle”</span>' in page
    assert '<p class="muted" data-when="queued running">You can leave this page: processing carries on' in page
    assert '<div id="job-error" class="alert error" role="alert" data-when="failed unusable" hidden>' in page

    with session_scope(settings) as db:
        failed = repo.get_job(db, job_id)
        failed.status, failed.error = "failed", "The recording has no sound."
    page = client.get(f"/jobs/{job_id}").text
    assert '<span data-when="failed">Processing “Feedback circle” stopped</span>' in page
    assert "The recording has no sound." in page and 'id="retry-form" data-when="failed">' in page
    assert '<p class="muted" data-when="queued running" hidden>' in page
    session = client.get(f"/sessions/{seeded_session}").text
    assert f'The recording has no sound. <a href="/jobs/{job_id}">See where it stopped, and retry</a>' in session
    assert client.get(f"/api/jobs/{job_id}").json()["can_retry"] is True
    retried = client.post(f"/api/jobs/{job_id}/retry").json()
    assert retried["status"] == "queued" and retried["error"] is None and queue.submitted == [job_id]

    with session_scope(settings) as db:
        repo.get_job(db, job_id).status = "done"
    page = client.get(f"/jobs/{job_id}").text
    assert '<span data-when="done">“Feedback circle” is ready</span>' in page
    assert f'<p id="job-done" data-when="done">\n    <a class="button primary" href="/sessions/{seeded_session}">Open the session</a>' in page


def test_a_refused_recording_is_not_offered_a_retry_and_keeps_saying_why(client, queue, settings) -> None:
    with session_scope(settings) as db:
        record = repo.create_session(db, session_id=repo.new_id(), title="Silence", source_kind="media",
                                     original_filename="silence.wav", stored_path="media/gone/original_silence.wav",
                                     program="Mentoring cohort")
        job = repo.create_job(db, record.id, ["decode", "transcribe"])
        job.status, job.stage, job.error = "failed", "decode", "silence.wav contains no audible sound."
        job_id, record.status = job.id, "failed"
    assert client.get(f"/api/jobs/{job_id}").json()["can_retry"] is False
    page = client.get(f"/jobs/{job_id}").text
    assert 'id="retry-form" data-when="failed" hidden>' in page
    assert '<span data-when="unusable">“Silence” could not be used</span>' in page
    assert '<p id="upload-another" data-when="unusable">The recording was not kept. <a class="button primary" href="/upload">' in page
    refused = client.post(f"/api/jobs/{job_id}/retry")
    assert refused.status_code == 409 and "Upload another recording." in refused.text and queue.submitted == []
    assert client.get(f"/api/jobs/{job_id}").json()["error"] == "silence.wav contains no audible sound."
    # Its session page has no player stuck at 0:00 and promises nothing that will not come.
    session = client.get(f"/sessions/{record.id}").text
    assert 'id="player"' not in session and "The recording was not kept, so there is nothing to play." in session
    assert ("This recording could not be used: silence.wav contains no audible sound. "
            '<a href="/upload">Upload another recording</a>, and delete this session below.') in session
    assert "appears here when" not in session and "None: this recording could not be used." in session
    memo = client.get(f"/sessions/{record.id}/memo")
    assert memo.status_code == 404 and "“Silence” has no memo: its recording could not be used. Upload another recording." in memo.text
    assert "appears when" not in memo.text


def _refused_job(settings, program: str = "Mentoring cohort") -> str:
    """A job whose recording the runner refused: its session is deleted, only the reason is left."""
    from insightcap.jobs.runner import _forget_refused, _reject

    with session_scope(settings) as db:
        record = repo.create_session(db, session_id=repo.new_id(), title="Silence", source_kind="media",
                                     original_filename="silence.wav", stored_path="media/gone/original_silence.wav",
                                     program=program)
        job = repo.create_job(db, record.id, ["decode", "transcribe"])
        job.status, job.stage, job_id, session_id = "running", "decode", job.id, record.id
    _reject(settings, job_id, "original_silence.wav contains no audible sound. Upload a recording with speech.")
    _forget_refused(settings, session_id)
    return job_id


def test_a_refused_recording_leaves_only_its_reason_on_the_job_page_and_in_sessions(app, client, queue, settings) -> None:
    from fastapi.testclient import TestClient

    job_id = _refused_job(settings)
    assert client.get("/api/sessions").json() == []
    job = client.get(f"/api/jobs/{job_id}").json()
    assert (job["status"], job["can_retry"], job["session_title"]) == ("failed", False, "Silence")
    assert (job["phase"], job["summary"]) == ("unusable", "Stopped: nothing can be made of this recording.")
    assert job["error"] == "silence.wav contains no audible sound. Upload a recording with speech."
    assert [stage["state"] for stage in job["stages"]] == ["failed", "not_run"]
    page = client.get(f"/jobs/{job_id}").text
    assert '<span data-when="unusable">“Silence” could not be used</span>' in page
    assert "silence.wav contains no audible sound." in page and 'href="/upload">Upload another recording</a>' in page
    assert '<p class="muted" data-when="queued running" hidden>You can leave this page: processing carries on' in page
    assert '<p id="job-done" data-when="done" hidden>' in page
    refused = client.post(f"/api/jobs/{job_id}/retry")
    assert refused.status_code == 409 and "Upload another recording." in refused.json()["detail"] and queue.submitted == []
    # Whoever left the job page early learns from Sessions what became of the upload.
    listed = client.get("/").text
    assert 'id="refused"' in listed and "“Silence”" in listed and "silence.wav contains no audible sound." in listed
    # Only for the program's facilitators, as the job was.
    token = make_account(settings, "other@example.org", Role.FACILITATOR, ("Another circle",))
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as outsider:
        assert outsider.get(f"/api/jobs/{job_id}").status_code == 404
        assert 'id="refused"' not in outsider.get("/").text
        assert outsider.post(f"/refused/{job_id}/delete").status_code == 404
    # The title may name a participant: the note can go before its week is up.
    deleted = client.post(f"/refused/{job_id}/delete", follow_redirects=False)
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/?refusal_deleted=1")
    listed = client.get("/?refusal_deleted=1").text
    assert 'id="refused"' not in listed and "The note of the refused recording was deleted." in listed
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    with session_scope(settings) as db:
        assert repo.refusal(db, job_id) is None
        assert [(entry.action, entry.target) for entry in audit.recent(db, action="delete_refusal")] == [("delete_refusal", job_id)]


def test_startup_resumes_interrupted_jobs(settings, seeded_session, monkeypatch) -> None:
    """A job a killed server left queued is run by the next start's ThreadQueue."""
    from fastapi.testclient import TestClient

    from insightcap.jobs import stages as stage_module
    from insightcap.web.app import create_app

    ran: list[str] = []
    quick = {name: stage_module.Stage(name, name.title(), lambda ctx, name=name: ran.append(name))
             for name in stage_module.TRANSCRIPT_STAGES}
    monkeypatch.setattr("insightcap.jobs.runner.STAGES", quick)
    with session_scope(settings) as db:
        job_id = repo.create_job(db, seeded_session, list(stage_module.TRANSCRIPT_STAGES)).id
    token = make_account(settings, "admin@example.org", Role.ADMIN)
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as test_client:
        deadline = time.monotonic() + 10
        while test_client.get(f"/api/jobs/{job_id}").json()["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert test_client.get(f"/api/jobs/{job_id}").json()["progress"] == 1.0
    assert ran == ["structure", "embed", "memo"]


def test_pages_render_with_labels_and_no_inline_scripts(client, seeded_session) -> None:
    for url in ("/", "/upload", f"/sessions/{seeded_session}", f"/sessions/{seeded_session}/memo",
                f"/sessions/{seeded_session}/memo/history", "/search", "/docs"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "<script>" not in response.text, f"inline script on {url}"
        assert "cdn" not in response.text.lower(), f"a CDN asset on {url}"
    index = client.get("/").text
    assert "Mentoring cohort" in index and "Feedback circle" in index
    session = client.get(f"/sessions/{seeded_session}?t=13.05").text
    assert 'data-start-at="13.05"' in session and f'href="/sessions/{seeded_session}?t=13.1"' in session
    upload = client.get("/upload").text
    assert '<label for="file">' in upload and 'id="speakers" name="speakers" type="number" min="1" max="20"' in upload


def test_errors_are_sentences_not_tracebacks(client, settings, monkeypatch) -> None:
    missing = client.get("/sessions/doesnotexist")
    assert missing.status_code == 404 and "no session at this address" in missing.text
    assert client.get("/api/sessions/doesnotexist").json()["detail"].startswith("There is no session")

    def explode(caller):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("insightcap.web.views.list_sessions", explode)
    broken = client.get("/")
    assert broken.status_code == 500
    assert "Something went wrong on our side. Reload the page and try again" in broken.text
    assert "logs/web.log" in broken.text and str(settings.data_dir) not in broken.text
    assert "Traceback" not in broken.text and "database on fire" not in broken.text
    assert "database on fire" in settings.web_log.read_text()


def test_posts_from_other_sites_are_refused(client, seeded_session) -> None:
    response = client.post(f"/sessions/{seeded_session}/memo", data={"markdown": "x", "version": 1},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert client.get(f"/api/sessions/{seeded_session}/memo").json()["version"] == 1


@pytest.mark.slow
def test_search_finds_an_insight_and_links_to_its_moment(client, seeded_session, settings) -> None:
    from insightcap.search.documents import SNIPPET_CHARS
    from insightcap.search.indexing import index_session
    from insightcap.web.templating import clock

    index_session(settings, seeded_session)
    hits = client.get("/api/search", params={"q": "long email with every problem"}).json()["hits"]
    assert hits and hits[0]["session_id"] == seeded_session
    assert hits[0]["start"] == pytest.approx(13.05)
    page = client.get("/search", params={"q": "long email with every problem", "program": "Mentoring cohort"}).text
    assert f'href="/sessions/{seeded_session}?t=13.1"' in page
    assert client.get("/search", params={"q": "email", "program": "No such program"}).text.count('class="hit"') == 0
    assert "Feedback circle at 00:13" in page  # 13.05 s, written as the memo and the CLI write it
    assert "results for “long email with every problem”" in page and "closest in meaning" not in page
    # Results with the words and results only close in meaning, mixed: the heading counts both, each says which.
    heading = re.search(r'<h2 id="results-heading">(\d+) results for “long email with every problem”: (\d+) with its '
                        r"words, the others? close in meaning</h2>", page)
    assert heading and page.count("close in meaning, without your words") == int(heading[1]) - int(heading[2])
    # The heading itself says when no result has the words looked for, not only a note under it.
    unrelated = client.get("/search", params={"q": "xylophone quarterly tax audit"}).text
    count = unrelated.count('class="hit"')
    assert count and "results for" not in unrelated
    assert (f'<h2 id="results-heading">No result contains a word of “xylophone quarterly tax audit”: the {count} '
            "closest in meaning</h2>") in unrelated
    assert "They may be about something else. Try other words, or fewer filters." in unrelated
    nothing = client.get("/search", params={"q": "feedback", "program": "Mentoring cohort", "date_from": "2001-01-01",
                                            "date_to": "2001-01-02"}).text
    assert '<h2 id="results-heading">No results for “feedback”</h2>' in nothing and 'class="hits"' not in nothing
    assert '<p class="alert info" role="status">Try other words, or fewer filters.</p>' in nothing

    # A stretch of transcript holds several people's words: it names them all, and no one as its speaker.
    said = client.get("/api/search", params={"q": "long email with every problem", "section": "transcript"}).json()
    assert said["hits"] and all(hit["kind"] == "passage" for hit in said["hits"])
    first = said["hits"][0]
    assert first["speaker"] is None
    assert first["speakers"] == ["Hannah Lee", "Marcus Johnson", "Sofia Rossi", "Kwame Mensah"]
    page = client.get("/search", params={"q": "long email with every problem", "section": "transcript"}).text
    assert "· conversation between Hannah Lee, Marcus Johnson, Sofia Rossi and Kwame Mensah" in page
    # Shown around where the phrase is said, marked, the whole passage a click away; its link opens
    # there, and says that moment rather than the passage's start.
    shown = re.search(r"<blockquote>“(.*?)”</blockquote>", page).group(1)
    assert "<mark>long email with every problem</mark>" in shown
    assert len(html.unescape(re.sub(r"</?mark>", "", shown))) <= SNIPPET_CHARS + 2 < len(first["quote"])
    assert '<details class="whole-passage"><summary>The whole passage</summary>' in page
    assert first["start"] + 5 < first["moment"] < first["end"]
    assert f'href="/sessions/{seeded_session}?t={round(first["moment"], 1)}">Feedback circle at {clock(first["moment"])}</a>' in page


def test_an_unknown_search_section_is_refused_with_the_valid_ones(client, seeded_session) -> None:
    refused = client.get("/api/search", params={"q": "feedback", "section": "bogus"})
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith(
        "There is no section 'bogus'. Choose one of: context, idea, strategy, resource, action_item, question, "
        "reaction, transcript")
    assert client.get("/api/search", params={"q": "feedback", "section": "commitments"}).status_code == 200
    page = client.get("/search", params={"q": "feedback", "section": "bogus"}).text
    assert '<p class="alert error" role="alert">There is no section &#39;bogus&#39;. Choose one of:' in page
    # The memo's heading picks its section in the form, which offers the transcript alone too.
    form = client.get("/search", params={"q": "feedback", "section": "Commitments"}).text
    assert '<option value="action_item" selected>Commitments</option>' in form
    assert '<option value="transcript" >Transcript only</option>' in form


@pytest.mark.slow
def test_themes_timeline_shows_recurring_themes_across_a_programs_sessions(client, settings) -> None:
    from insightcap.jobs.intake import submit_transcript
    from insightcap.jobs.runner import run_job

    quick = settings.model_copy(update={"generator": "none"})
    fixtures = Path(__file__).resolve().parent / "fixtures" / "transcripts"
    session_ids = []
    for name, day in (("zoom.vtt", date(2026, 10, 1)), ("zoom_transcript.txt", None)):
        submitted = submit_transcript(fixtures / name, quick, program="Mentoring cohort", session_date=day)
        assert run_job(quick, submitted.job_id).status == "done"
        session_ids.append(submitted.session_id)

    timeline = client.get("/api/programs/mentoring cohort/themes").json()
    assert [s["id"] for s in timeline["sessions"]] == session_ids  # in date order (undated: the day it was added)
    assert timeline["themes"], "the two sessions' insights should form at least one theme"
    assert all(set(theme["session_ids"]) <= set(session_ids) for theme in timeline["themes"])
    page = client.get("/themes", params={"program": "Mentoring cohort"}).text
    assert 'class="timeline"' in page and timeline["themes"][0]["label"] in page
    # A recurring theme's first and last sessions are shown as the sessions are: the undated one by
    # the day it was added, said so, not passed off as the day it was held.
    assert any(len(theme["session_ids"]) > 1 for theme in timeline["themes"])
    assert 'first 2026-10-01, last <span class="muted">added ' in page
    assert client.get("/api/programs/Nobody/themes").status_code == 404


def test_a_recordings_speaker_count_is_checked_and_kept_with_the_session(client, queue, settings) -> None:
    for fields, message in (({"speakers": "0"}, "between 1 and 20 (got 0)"),
                            ({"speakers": "three"}, "a whole number like 3 (got 'three')"),
                            ({"speakers": "2", "max_speakers": "3"}, "not both")):
        with JFK.open("rb") as handle:
            refused = client.post("/api/sessions", files={"file": ("talk.flac", handle, "audio/flac")}, data=fields)
        assert refused.status_code == 422 and message in refused.json()["detail"], refused.text
    assert queue.submitted == [] and _stored_files(settings) == []

    with JFK.open("rb") as handle:
        ranged = client.post("/api/sessions", files={"file": ("talk.flac", handle, "audio/flac")},
                             data={"min_speakers": "2", "max_speakers": "4", "program": "Circle A"})
    with JFK.open("rb") as handle:  # the same file again, so in another program
        exact = client.post("/upload", files={"file": ("talk.flac", handle, "audio/flac")},
                            data={"speakers": "3", "program": "Circle B"}, follow_redirects=False)
    assert ranged.status_code == 202 and exact.status_code == 303
    with session_scope(settings) as db:
        kept = [(record.min_speakers, record.max_speakers) for record in repo.list_sessions(db)]
    assert sorted(kept) == [(2, 4), (3, 3)]
    form = client.get("/upload").text
    assert '<label for="speakers">' in form and 'name="speakers" type="number" min="1" max="20"' in form


def test_talk_time_and_turns_per_speaker_in_the_api_and_on_the_page(client, seeded_session) -> None:
    client.put(f"/api/sessions/{seeded_session}/speakers", json={"speaker": "Marcus Johnson", "name": "Marcus J."})
    detail = client.get(f"/api/sessions/{seeded_session}").json()
    stats = detail["speaker_stats"]
    assert [stat["speaker"] for stat in stats] == detail["speakers"]
    assert sum(stat["share"] for stat in stats) == pytest.approx(1.0)
    assert all(stat["turns"] >= 1 and stat["talk_seconds"] > 0 for stat in stats)
    marcus = next(stat for stat in stats if stat["speaker"] == "Marcus Johnson")
    assert marcus["speaker_name"] == "Marcus J."

    page = client.get(f"/sessions/{seeded_session}").text
    table = page[page.index('id="talk-time"') : page.index("</section>", page.index('id="talk-time"'))]
    assert '<th scope="row">Marcus J.</th>' in table and "Marcus Johnson" not in table
    assert f'style="width: {round(marcus["share"] * 100, 1)}%"' in table
    assert table.count('<span class="talk-bar" aria-hidden="true">') == len(stats)
    assert f'({round(marcus["share"] * 100)}%)' in table


def test_a_speaker_name_another_speaker_has_is_refused_and_quotes_keep_their_words(client, seeded_session) -> None:
    url = f"/api/sessions/{seeded_session}"
    quoted = FIRST_MEMO + "\n- “Marcus Johnson here, I wrote too much” — Marcus Johnson [00:18]\n"
    client.put(url + "/memo", json={"markdown": quoted, "version": 1})
    taken = client.put(url + "/speakers", json={"speaker": "Marcus Johnson", "name": " hannah LEE "})
    assert taken.status_code == 409
    assert taken.json()["detail"].startswith("“hannah LEE” is taken: another speaker in this session is Hannah Lee.")
    assert client.get(url).json()["speaker_names"] == {}

    renamed = client.put(url + "/speakers", json={"speaker": "Marcus Johnson", "name": "Marcus"})
    assert renamed.status_code == 200
    memo = client.get(url + "/memo").json()
    assert memo["version"] == 3 and memo["markdown"].endswith("- “Marcus Johnson here, I wrote too much” — Marcus [00:18]\n")


def test_a_refused_speaker_name_is_shown_by_its_form_as_typed_on_the_session_page(client, seeded_session) -> None:
    client.put(f"/api/sessions/{seeded_session}/speakers", json={"speaker": "Hannah Lee", "name": "Ana"})
    refused = client.post(f"/sessions/{seeded_session}/speakers", data={"speaker": "Marcus Johnson", "name": "ana"})
    assert refused.status_code == 409
    page = refused.text
    assert "<h1>Feedback circle</h1>" in page and 'id="transcript"' in page  # the session, not an error page
    # Marcus is the second speaker: his form keeps what was typed, says why and what to do, and takes the focus.
    assert ('<input id="speaker-2" name="name" type="text" maxlength="200" value="ana" placeholder="Name" '
            'aria-invalid="true" aria-describedby="speaker-2-error" autofocus>') in page
    assert ('<p class="field-error" id="speaker-2-error" role="alert">“ana” is taken: another speaker in this session '
            "is Ana (transcript label “Hannah Lee”). Choose a name that tells the two apart, for example with a surname "
            "or an initial; or, if the name is this speaker&#39;s, rename Hannah Lee first.</p>") in page
    assert 'id="speaker-1" name="name" type="text" maxlength="200" value="Ana" placeholder="Name">' in page
    assert page.count('aria-invalid="true"') == 1
    assert client.get(f"/api/sessions/{seeded_session}").json()["speaker_names"] == {"Hannah Lee": "Ana"}


def test_a_recordings_transcript_can_be_skipped_by_keyboard(client, seeded_session, settings) -> None:
    """Each line of a recording's transcript is a button, so a tab stop: one link skips them all."""
    skip = '<a class="skip-past" href="#after-transcript">Skip the transcript ('
    assert skip not in client.get(f"/sessions/{seeded_session}").text  # imported: its lines are not tab stops
    recording = settings.data_dir / "media" / seeded_session / "circle.ogg"  # only its presence matters here
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_bytes(b"OggS")
    with session_scope(settings) as db:
        record = repo.get_session(db, seeded_session)
        record.source_kind, record.stored_path = "media", recording.relative_to(settings.data_dir).as_posix()
    page = client.get(f"/sessions/{seeded_session}").text
    lines = page.count('<button type="button" class="line"')
    assert lines > 10 and f"{skip}{lines} lines)</a>" in page
    assert page.index(skip) < page.index('id="transcript"') < page.index('<aside class="insights-col" id="after-transcript" tabindex="-1">')


def test_search_results_mark_the_words_looked_for_and_nothing_else_becomes_markup() -> None:
    from insightcap.web.templating import marked

    said = 'Our <script>alert("x")</script> Templates & <b onclick=go()>template</b> reviews'
    assert marked(said, "template review") == (
        'Our &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; <mark>Templates</mark> &amp; '
        '&lt;b onclick=go()&gt;<mark>template</mark>&lt;/b&gt; <mark>reviews</mark>')
    assert marked("<i>like a balloon, in a cage</i>", "like a balloon in a cage") == (
        "&lt;i&gt;<mark>like a balloon, in a cage</mark>&lt;/i&gt;")
    assert marked("<mark>x</mark>", "<mark>") == "&lt;<mark>mark</mark>&gt;x&lt;/<mark>mark</mark>&gt;"
    assert marked("nothing to see", "xylophone") == "nothing to see"


def test_a_speaker_no_session_has_is_refused_with_the_speakers_there_are(app, client, settings, seeded_session) -> None:
    from fastapi.testclient import TestClient

    client.put(f"/api/sessions/{seeded_session}/speakers", json={"speaker": "Sofia Rossi", "name": "Sofia R."})
    page = client.get("/search", params={"q": "feedback", "speaker": "Bob"}).text
    assert ('<p class="alert error" role="alert">No session has a speaker called &#39;Bob&#39;. The speakers are '
            "Hannah Lee, Kwame Mensah, Marcus Johnson and Sofia R..</p>") in page
    assert 'id="results-heading"' not in page
    api = client.get("/api/search", params={"q": "feedback", "speaker": "Bob"})
    assert api.status_code == 422 and api.json()["detail"].startswith("No session has a speaker called 'Bob'.")
    close = client.get("/search", params={"q": "feedback", "speaker": "marcus jonson"}).text
    assert "has a speaker called &#39;marcus jonson&#39;. Did you mean &#39;Marcus Johnson&#39;?" in close
    # A given name and the transcript's label both name the speaker, in any case or accents.
    for named in ("sofia r.", "Sofía Rossi", "KWAME MENSAH"):
        found = client.get("/search", params={"q": "feedback", "speaker": named}).text
        assert 'role="alert"' not in found and 'id="results-heading"' in found, named
    outside = client.get("/search", params={"q": "feedback", "speaker": "Hannah Lee", "date_to": "2001-01-01"}).text
    assert ("No session matching the other filters has a speaker called &#39;Hannah Lee&#39; (none has a transcript "
            "with speakers yet). Search without the speaker filter.") in outside
    # Only the speakers of sessions the caller may read are named.
    token = make_account(settings, "other@example.org", Role.FACILITATOR, ("Another circle",))
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as outsider:
        refused = outsider.get("/search", params={"q": "feedback", "speaker": "Hannah Lee"}).text
        assert "No session has a speaker called &#39;Hannah Lee&#39; (none has" in refused
        assert "Marcus" not in refused


def test_approval_names_the_approver_not_the_author(app, settings, seeded_session) -> None:
    from fastapi.testclient import TestClient

    program = ("Mentoring cohort",)
    sam, maria = (TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"})
                  for token in (make_account(settings, "sam@example.org", Role.FACILITATOR, program),
                                make_account(settings, "maria@example.org", Role.FACILITATOR, program)))
    url = f"/api/sessions/{seeded_session}/memo"
    assert sam.put(url, json={"markdown": FIRST_MEMO + "\n- Sam's point.\n", "version": 1}).json()["version"] == 2
    approved = maria.put(url + "/status", json={"status": "approved", "version": 2}).json()
    assert (approved["author"], approved["approved_by"]) == ("sam@example.org", "maria@example.org")
    assert approved["approved_at"] is not None
    history = sam.get(url + "/versions").json()
    assert (history[0]["author"], history[0]["approved_by"], history[1]["approved_by"]) == (
        "sam@example.org", "maria@example.org", None)
    editor = sam.get(f"/sessions/{seeded_session}/memo").text
    assert "version 2, written by sam@example.org; approved by maria@example.org on " in editor
    assert "sam@example.org · approved by maria@example.org" in sam.get(f"/sessions/{seeded_session}/memo/history").text

    reopened = sam.put(url + "/status", json={"status": "draft", "version": 2}).json()
    assert (reopened["status"], reopened["approved_by"], reopened["approved_at"]) == ("draft", None, None)
    sam.put(url, json={"markdown": FIRST_MEMO + "\n- Sam's second point.\n", "version": 2})
    stale = maria.put(url + "/status", json={"status": "approved", "version": 2})
    assert stale.status_code == 409 and stale.json()["current"]["version"] == 3
    assert stale.json()["detail"] == ("This memo changed since you opened it (latest version: 3). "
                                      "Review the latest version before approving it.")
    page = maria.post(f"/sessions/{seeded_session}/memo/status", data={"status": "approved", "version": 2})
    assert page.status_code == 409 and "Review the latest version before approving it." in page.text


def test_an_empty_memo_is_refused_and_the_memo_kept(client, seeded_session) -> None:
    url = f"/api/sessions/{seeded_session}/memo"
    for empty in ("", "  \n "):
        refused = client.put(url, json={"markdown": empty, "version": 1})
        assert refused.status_code == 422 and refused.json()["detail"].startswith(
            "An empty memo cannot be saved; the latest version is unchanged.")
    page = client.post(f"/sessions/{seeded_session}/memo", data={"markdown": "", "version": 1, "draft": "k2-x9"})
    assert page.status_code == 422 and "An empty memo cannot be saved" in page.text
    assert [v["version"] for v in client.get(url + "/versions").json()] == [1]
    assert client.get(url).json()["markdown"] == FIRST_MEMO
    # The editor, not an error page: the text as typed (empty), the saved version apart for the script,
    # approval held back, and a way to get the saved text back that also forgets the browser's copy.
    assert "Something is not right" not in page.text and 'id="save-memo"' in page.text
    assert 'name="markdown" rows="28" spellcheck="true" data-unsaved="true"></textarea>' in page.text
    assert f'<textarea id="saved-markdown" hidden readonly tabindex="-1" aria-hidden="true">{FIRST_MEMO}</textarea>' in page.text
    assert 'name="version" id="based-on" value="1"' in page.text and 'name="draft" id="draft-id" value="k2-x9"' in page.text
    assert re.search(r'id="approve-memo"[^>]* disabled>', page.text)
    assert '<span id="approve-hint" class="muted" >Save your changes first, then approve.</span>' in page.text
    assert f'href="/sessions/{seeded_session}/memo?discard=k2-x9" id="show-saved">Discard what you typed' in page.text


def test_a_save_brings_back_its_draft_id_and_says_when_the_memo_needs_approving_again(client, seeded_session) -> None:
    """memo.js forgets the text it kept in the browser once the address names it as saved; saving an
    approved memo makes a draft, and the notice says so rather than letting the approval quietly lapse."""
    page = f"/sessions/{seeded_session}/memo"
    client.put(f"/api/sessions/{seeded_session}/memo/status", json={"status": "approved", "version": 1})
    saved = client.post(page, data={"markdown": FIRST_MEMO + "\nMore.\n", "version": 1, "draft": "k2-x9"},
                        follow_redirects=False)
    assert saved.headers["location"] == f"{page}?saved=2&draft=k2-x9"
    editor = client.get(saved.headers["location"]).text
    assert ("Saved as version 2. Version 1 was approved; version 2 is a draft again until someone approves it: "
            "approve it below once it is ready.") in editor
    assert 'id="approve-memo" aria-describedby="approve-hint" >Approve version 2</button>' in editor
    assert '<span id="approve-hint" class="muted" hidden>' in editor  # memo.js shows it while text is unsaved
    # A draft id is only ever an id: anything else is dropped, not echoed.
    odd = client.post(page, data={"markdown": FIRST_MEMO + "\nEven more.\n", "version": 2, "draft": '"><b>'},
                      follow_redirects=False)
    assert odd.headers["location"] == f"{page}?saved=3"
    assert "Saved as version 3.</p>" in client.get(odd.headers["location"]).text
    conflict = client.post(page, data={"markdown": "Mine.\n", "version": 1, "draft": "k2-x9"})
    assert conflict.status_code == 409 and '<input type="hidden" name="draft" value="k2-x9">' in conflict.text
    assert f'href="{page}?discard=k2-x9" id="discard-mine"' in conflict.text


def test_a_memo_version_made_by_a_speaker_rename_names_who_renamed(client, seeded_session) -> None:
    url = f"/api/sessions/{seeded_session}/memo"
    client.put(url, json={"markdown": FIRST_MEMO + "\nMarcus Johnson agreed.\n", "version": 1})
    client.put(f"/api/sessions/{seeded_session}/speakers", json={"speaker": "Marcus Johnson", "name": "Marcus"})
    latest = client.get(url).json()
    assert (latest["version"], latest["author"]) == (3, "speaker names updated by admin@example.org")
    editor = client.get(f"/sessions/{seeded_session}/memo").text
    assert "version 3, speaker names updated by admin@example.org</span>" in editor
    history = client.get(f"/sessions/{seeded_session}/memo/history").text
    assert "· speaker names updated by admin@example.org · draft" in history
    assert "· written by admin@example.org · draft" in history
    assert "speaker rename" not in editor + history


def test_search_refuses_what_would_find_nothing_instead_of_finding_nothing(client, seeded_session) -> None:
    from insightcap.search.schema import QUERY_NEEDED

    for limit in (0, -1, 101):
        assert client.get("/api/search", params={"q": "feedback", "limit": limit}).status_code == 422
    for q in ("", "   "):
        empty = client.get("/api/search", params={"q": q})
        assert empty.status_code == 422 and empty.json()["detail"] == QUERY_NEEDED
    unknown = client.get("/api/search", params={"q": "feedback", "program": "Nonexistent"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "No program called 'Nonexistent'. Choose one of: Mentoring cohort."
    assert client.get("/api/search", params={"q": "feedback", "program": "mentoring COHORT"}).status_code == 200
    reversed_range = client.get("/api/search", params={"q": "feedback", "date_from": "2025-03-30", "date_to": "2025-03-01"})
    assert reversed_range.status_code == 422
    assert reversed_range.json()["detail"] == "The start date (2025-03-30) is after the end date (2025-03-01): swap them."

    page = client.get("/search", params={"q": "feedback", "date_from": "2025-03-30", "date_to": "2025-03-01"}).text
    assert '<p class="alert error" role="alert">The start date (2025-03-30) is after the end date' in page
    assert "results for" not in page
    page = client.get("/search", params={"q": "feedback", "program": "Nonexistent"}).text
    assert "No program called &#39;Nonexistent&#39;. Choose one of: Mentoring cohort." in page
    # Opened from the menu, the page is just the form; sent with an empty box, it asks for words.
    opened = client.get("/search").text
    assert QUERY_NEEDED not in opened and "results for" not in opened and 'role="alert"' not in opened
    for q in ("", "  "):
        asked = client.get("/search", params={"q": q}).text
        assert f'<p class="alert info" role="status">{QUERY_NEEDED}</p>' in asked and "results for" not in asked


def test_a_wrong_program_is_answered_with_the_callers_programs_only(app, settings, seeded_session) -> None:
    from fastapi.testclient import TestClient

    token = make_account(settings, "other@example.org", Role.FACILITATOR, ("Another circle",))
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as outsider:
        hidden = outsider.get("/api/search", params={"q": "feedback", "program": "Mentoring cohort"})
        assert hidden.status_code == 422
        assert hidden.json()["detail"] == "No program called 'Mentoring cohort'. Choose one of: Another circle."
        unknown = outsider.get("/api/search", params={"q": "feedback", "program": "Nonexistent"}).json()["detail"]
        assert "Mentoring" not in unknown and unknown.endswith("Choose one of: Another circle.")
        page = outsider.get("/search", params={"q": "feedback", "program": "Nonexistent"}).text
        assert "Mentoring" not in page and "Choose one of: Another circle." in page


def test_the_sessions_list_names_everyone_who_spoke_not_only_those_quoted(client, seeded_session) -> None:
    # The seeded insights quote two of the four people; the others spoke too.
    client.put(f"/api/sessions/{seeded_session}/speakers", json={"speaker": "Sofia Rossi", "name": "Sofia R."})
    listed = client.get("/api/sessions").json()
    assert listed[0]["participants"] == ["Hannah Lee", "Marcus Johnson", "Sofia R.", "Kwame Mensah"]
    assert "Hannah Lee, Marcus Johnson, Sofia R., Kwame Mensah" in client.get("/").text


def test_a_job_says_its_place_in_the_queue_and_what_a_failure_left_not_run(client, seeded_session, settings) -> None:
    with session_scope(settings) as db:
        first, second = (repo.create_job(db, seeded_session, ["structure", "embed", "memo"]).id for _ in range(2))
    assert client.get(f"/api/jobs/{first}").json()["jobs_ahead"] == 0
    queued = client.get(f"/api/jobs/{second}").json()
    # The page and its script show the server's wording, so they cannot drift apart.
    assert (queued["jobs_ahead"], queued["phase"]) == (1, "queued")
    assert queued["summary"] == "Waiting to start: another session is being processed first."
    waiting = client.get(f"/jobs/{second}").text
    assert "Waiting to start: another session is being processed first." in waiting and "worker" not in waiting
    assert '<span data-when="queued">Waiting to process “Feedback circle”</span>' in waiting

    with session_scope(settings) as db:
        failed = repo.get_job(db, first)
        failed.status, failed.stage, failed.completed_stages, failed.error = "failed", "embed", ["structure"], "No disk."
    status = client.get(f"/api/jobs/{first}").json()
    assert [s["state"] for s in status["stages"]] == ["done", "failed", "not_run"] and status["jobs_ahead"] is None
    assert (status["phase"], status["summary"]) == ("failed", "Stopped.")
    assert '<span class="stage-state">not run</span>' in client.get(f"/jobs/{first}").text
    # A retried job joins the back of the queue.
    assert client.post(f"/api/jobs/{first}/retry").json()["jobs_ahead"] == 1
    assert client.get(f"/api/jobs/{second}").json()["jobs_ahead"] == 0


def test_a_session_being_processed_cannot_be_deleted_and_the_page_says_why(client, seeded_session, settings) -> None:
    import os
    import socket
    from datetime import UTC, datetime

    with session_scope(settings) as db:  # a job this (live) process is running
        job = repo.create_job(db, seeded_session, ["structure", "embed", "memo"])
        job.status, job.stage, job.worker = "running", "embed", f"{socket.gethostname()}:{os.getpid()}"
        job.heartbeat_at = datetime.now(UTC)
    still = "This session is still being processed; you can delete it once it has finished or failed."
    page = client.get(f"/sessions/{seeded_session}").text
    assert still in page and 'id="delete-session"' not in page

    refused = client.post(f"/sessions/{seeded_session}/delete", follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/sessions/{seeded_session}?delete_refused=1#delete"
    api = client.delete(f"/api/sessions/{seeded_session}")
    assert api.status_code == 409 and api.json()["detail"] == still
    assert client.get(f"/api/sessions/{seeded_session}").status_code == 200

    with session_scope(settings) as db:  # it finished meanwhile: the page offers the delete again
        repo.get_job(db, job.id).status = "done"
    after = client.get(f"/sessions/{seeded_session}?delete_refused=1").text
    assert "was still being processed, so it was not deleted" in after and 'id="delete-session"' in after


def test_a_moment_can_be_given_as_a_clock_time_and_a_session_by_the_start_of_its_id(
        app, client, seeded_session, settings) -> None:
    from fastapi.testclient import TestClient

    url = f"/sessions/{seeded_session}"
    for t, start_at in (("157", "157.0"), ("02:37", "157.0"), ("1:02:03", "3723.0"), ("2:37.5", "157.5"),
                        ("banana", ""), ("-5", ""), ("nan", ""), ("", "")):
        page = client.get(url, params={"t": t})
        assert page.status_code == 200 and f'data-start-at="{start_at}"' in page.text, t

    short = client.get(f"/sessions/{seeded_session[:5]}?t=02:37", follow_redirects=False)
    assert short.status_code == 303 and short.headers["location"] == f"{url}?t=02:37"
    with session_scope(settings) as db:
        repo.create_session(db, session_id=seeded_session[:4] + "z" * 8, title="Twin", source_kind="transcript",
                            original_filename="x.vtt", stored_path="media/x.vtt", program="Mentoring cohort")
    ambiguous = client.get(f"/sessions/{seeded_session[:4]}")
    assert ambiguous.status_code == 404 and "use more characters of the id" in ambiguous.text
    token = make_account(settings, "other@example.org", Role.FACILITATOR, ("Another circle",))
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as outsider:
        assert outsider.get(f"/sessions/{seeded_session[:5]}", follow_redirects=False).status_code == 404


def test_the_themes_timeline_names_each_session_and_marks_a_theme_seen_once(client, seeded_session, settings) -> None:
    from insightcap.insights.schema import SessionInsights
    from insightcap.storage.search_tables import ThemeMemberRecord, ThemeRecord

    with session_scope(settings) as db:
        morning = repo.get_session(db, seeded_session)
        morning.title, morning.session_date = "Morning group", date(2026, 10, 1)
        afternoon, undated, stopped = (
            repo.create_session(db, session_id=repo.new_id(), title=title, source_kind="transcript",
                                original_filename="x.vtt", stored_path="media/x.vtt", program="Mentoring cohort",
                                session_date=day)
            for title, day in (("Afternoon group", date(2026, 10, 1)), ("Undated follow-up", None),
                               ("Stopped early", date(2026, 10, 2))))
        for record in (afternoon, undated):  # insights to cluster; the stopped one has none
            repo.replace_insights(db, record.id, repo.load_output(db, seeded_session, "insights", SessionInsights))
        stopped.status = "failed"
        added = undated.created_at.strftime("%Y-%m-%d")
        program_id = morning.program_id
        # The same day: only the titles tell these two columns apart.
        once = ThemeRecord(program_id=program_id, label="Scheduling", centroid=b"", count=5, trend="steady",
                           description="Came up 5 times in 1 of 3 sessions; about scheduling.")  # for the CLI
        twice = ThemeRecord(program_id=program_id, label="Long emails", centroid=b"", count=2, trend="rising")
        db.add_all([once, twice])
        db.flush()
        db.add_all([ThemeMemberRecord(theme_id=once.id, kind="insight", row_id=1, session_id=undated.id, similarity=1),
                    *(ThemeMemberRecord(theme_id=twice.id, kind="insight", row_id=n, session_id=record.id,
                                        similarity=1) for n, record in enumerate((morning, afternoon)))])

    timeline = client.get("/api/programs/Mentoring cohort/themes").json()
    assert [theme["label"] for theme in timeline["themes"]] == ["Long emails", "Scheduling"]  # recurring first
    # A session with nothing clustered (failed, or still waiting) is no empty column.
    assert [s["title"] for s in timeline["sessions"]] == ["Morning group", "Afternoon group", "Undated follow-up"]
    page = client.get("/themes", params={"program": "Mentoring cohort"}).text
    head = page[page.index("<thead>"):page.index("</thead>")]
    assert "Morning group</a> <span class=\"small muted\">2026-10-01</span>" in head
    assert "Afternoon group</a> <span class=\"small muted\">2026-10-01</span>" in head
    assert f'<span class="muted">added {added}</span>' in head
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert body.index("Long emails") < body.index("Scheduling") and "<td>rising</td>" in body
    assert "<td>seen once</td>" in body and "steady" not in body
    assert (f"Came up 5 times, all in one session (“Undated follow-up”, <span class=\"muted\">added {added}</span>) · "
            "seen once, not recurring yet</p>") in page
    assert "Came up 2 times in 2 of 3 sessions, first 2026-10-01, last 2026-10-01 · trend: rising</p>" in page
    assert "Came up 5 times in 1 of 3" not in page  # each theme is described once: not its stored description too
    # On a phone the table scrolls sideways in its box, reachable from the keyboard and named by its heading;
    # a legend says how the trend words are decided.
    assert '<div class="timeline-wrap" tabindex="0" role="region" aria-labelledby="timeline-heading">' in page
    assert 'aria-describedby="trend-legend"' in page and "compares the latest third of the sessions" in page
    assert f'<span class="muted">added {added}</span>' in client.get("/").text
    assert f'<span class="muted">added {added}</span>' in client.get(f"/sessions/{undated.id}").text


def test_members_are_told_what_is_for_facilitators_and_why_search_finds_nothing(app, settings, queue,
                                                                                  seeded_session) -> None:
    from fastapi.testclient import TestClient

    from insightcap.auth.accounts import revoke_program

    token = make_account(settings, "member@example.org", Role.MEMBER, ("Mentoring cohort",))
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as member:
        # Upload and themes refuse a member up front, in words, with no form or upload link to follow.
        for url, said in (("/upload", "Only a program&#39;s facilitators can upload recordings. Ask one of them"),
                          ("/themes", "Themes are for a program&#39;s facilitators")):
            page = member.get(url)
            assert page.status_code == 403 and said in page.text, url
            assert "<h1>Not allowed</h1>" in page.text and 'href="/upload"' not in page.text, url
            assert 'id="upload-form"' not in page.text, url
        with ZOOM_VTT.open("rb") as handle:
            sent = member.post("/upload", files={"file": ("zoom.vtt", handle, "text/vtt")},
                               data={"program": "Mentoring cohort"})
        assert sent.status_code == 403 and "Only a program&#39;s facilitators" in sent.text and queue.submitted == []
        # Nothing approved yet: search says there is nothing to search, rather than "try other words".
        for params in ({}, {"q": "feedback"}):
            page = member.get("/search", params=params).text
            assert "No memo of your programs has been approved yet, so there is nothing to search." in page
            assert "No results" not in page and "Try other words" not in page
        with session_scope(settings) as db:
            repo.set_memo_status(db, seeded_session, "approved", 1, by="admin@example.org")
        assert 'id="nothing-to-search"' not in member.get("/search").text
        with session_scope(settings) as db:
            revoke_program(db, "member@example.org", "Mentoring cohort")
        assert "You are not in any program yet, so there is nothing to search." in member.get("/search").text


def test_error_pages_say_what_happened_in_plain_words(client, seeded_session) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "<title>Not found · insightcap</title>" in missing.text
    # A mangled address or form is said in words on a page; the JSON API keeps pydantic's wording.
    mangled = client.get(f"/sessions/{seeded_session}/memo/history", params={"v": "two"})
    assert mangled.status_code == 422 and "<h1>Something in the address or form is not right</h1>" in mangled.text
    assert ("Something in this address is not right: “v” should be a whole number, not “two”. Check the link, "
            "or start again from All sessions.") in mangled.text
    assert "Input should be" not in mangled.text
    incomplete = client.post(f"/sessions/{seeded_session}/memo", data={"markdown": "# Memo"})
    assert incomplete.status_code == 422
    assert "Something in the form sent was not right: “version” is missing. Reload the page" in incomplete.text
    api = client.get("/api/search", params={"q": "feedback", "limit": "many"})
    assert api.status_code == 422 and "limit: Input should be a valid integer" in api.json()["detail"]


def test_sign_in_fields_are_styled_and_theme_names_stay_in_view_when_the_timeline_scrolls(anonymous) -> None:
    css = anonymous.get("/static/css/app.css").text
    fields = css[:css.index("{", css.index("input[type=text]"))]
    assert "input[type=email]" in fields and "input[type=password]" in fields
    assert re.search(r'\.timeline th\[scope="row"\][^{]*\{[^}]*position: sticky; left: 0;', css)
    login = anonymous.get("/login").text
    assert 'type="email"' in login and 'type="password"' in login


def _facilitator_and_member(app, settings) -> tuple:
    """Sam facilitates the seeded session's program, Mia is a member of it (API tokens: no CSRF needed)."""
    from fastapi.testclient import TestClient

    program = ("Mentoring cohort",)
    return tuple(TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"})
                 for token in (make_account(settings, "sam@example.org", Role.FACILITATOR, program),
                               make_account(settings, "mia@example.org", Role.MEMBER, program)))


def _another_session(settings, title: str = "Handling silence", program: str = "Mentoring cohort") -> str:
    """A processed session with a draft memo, as a recurring theme's "Last time, in …" quotes one."""
    with session_scope(settings) as db:
        record = repo.create_session(db, session_id=repo.new_id(), title=title, source_kind="transcript",
                                     original_filename="silence.vtt", stored_path="media/none/silence.vtt",
                                     program=program, session_date=date(2024, 3, 19))
        record.status = "ready"
        repo.add_memo_version(db, record.id, f"# {title}\n")
        return record.id


def _said(page: str, element_id: str) -> str:
    """The words of the element with `element_id`, as a reader gets them: tags dropped, spaces collapsed."""
    found = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', page, re.DOTALL)
    assert found, f"no #{element_id} on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found[2])).split())


def test_approving_a_memo_that_quotes_a_session_members_cannot_read_says_so(app, settings, seeded_session) -> None:
    sam, mia = _facilitator_and_member(app, settings)
    earlier, elsewhere = _another_session(settings), _another_session(settings, "Kept elsewhere", "Another circle")
    url, page = f"/api/sessions/{seeded_session}/memo", f"/sessions/{seeded_session}/memo"
    quoting = FIRST_MEMO + (f"\n- Silence again. Last time, in [Handling silence](/sessions/{earlier}?t=12) on 19 March "
                            f"2024, Grace Kim said “I wait.” Compare [this]({'/sessions/' + elsewhere}) and "
                            f"[the start](/sessions/{seeded_session}?t=3).\n")
    sam.put(url, json={"markdown": quoting, "version": 1})
    editor = sam.get(page).text
    assert _said(editor, "quotes-unapproved") == (
        "Members will also read what this memo quotes from “Handling silence” (2024-03-19), whose own memo is not "
        "approved yet. Edit that part out first if it should stay private.")
    assert f'<a href="/sessions/{earlier}">“Handling silence”</a>' in editor
    assert "Kept elsewhere" not in editor  # another program's session is not this memo's to name

    approved = sam.put(url + "/status", json={"status": "approved", "version": 2})
    assert approved.status_code == 200  # told, not refused: quoting may be meant
    assert approved.json()["quotes_unapproved"] == [{"id": earlier, "title": "Handling silence", "date": "2024-03-19"}]
    assert _said(sam.get(page).text, "quotes-unapproved").startswith(
        "Members also read what this memo quotes from “Handling silence” (2024-03-19), whose own memo is not approved "
        "yet. Reopen this memo")
    assert "quotes_unapproved" not in mia.get(url).json() and 'id="quotes-unapproved"' not in mia.get(page).text

    # Once the quoted session's memo is approved, its members may read it anyway: nothing left to say.
    sam.put(f"/api/sessions/{earlier}/memo/status", json={"status": "approved", "version": 1})
    assert 'id="quotes-unapproved"' not in sam.get(page).text
    reopened = sam.put(url + "/status", json={"status": "draft", "version": 2}).json()
    assert reopened["quotes_unapproved"] == []


def test_the_editor_says_approving_shares_the_whole_session_with_members(client, settings, seeded_session) -> None:
    page = f"/sessions/{seeded_session}/memo"
    assert _said(client.get(page).text, "members-read") == (
        "The members of Mentoring cohort cannot read this session yet. Approving lets them read this memo and the "
        "session's transcript and insights.")  # an imported transcript: no recording to play
    recording = settings.data_dir / "media" / "feedback" / "jfk.flac"
    recording.parent.mkdir(parents=True)
    recording.write_bytes(JFK.read_bytes())
    with session_scope(settings) as db:
        record = repo.get_session(db, seeded_session)
        record.source_kind, record.stored_path = "media", "media/feedback/jfk.flac"
    editor = client.get(page).text
    assert _said(editor, "members-read").endswith("Approving lets them read this memo and the session's transcript "
                                                  "and insights, and play its recording.")
    assert editor.index('id="members-read"') < editor.index('id="approve-memo"')
    client.put(f"/api/sessions/{seeded_session}/memo/status", json={"status": "approved", "version": 1})
    assert _said(client.get(page).text, "members-read") == (
        "The members of Mentoring cohort can read this memo and the session's transcript and insights, and play its "
        "recording. Reopening it as a draft takes this version back from them.")


def test_an_approved_version_can_be_withdrawn_while_a_newer_draft_is_worked_on(app, settings, seeded_session) -> None:
    sam, mia = _facilitator_and_member(app, settings)
    url, page = f"/api/sessions/{seeded_session}/memo", f"/sessions/{seeded_session}/memo"
    sam.put(url + "/status", json={"status": "approved", "version": 1})
    sam.put(url, json={"markdown": FIRST_MEMO + "\n- Being rewritten.\n", "version": 1})
    editor = sam.get(page).text
    assert re.fullmatch(r"Members currently read version 1 \(approved by sam@example\.org on \S+ \S+\)\. "
                        r"Approving version 2 lets them read it instead\.", _said(editor, "members-read"))
    assert 'id="withdraw-memo">Withdraw version 1 from members</button>' in editor
    assert mia.post(url + "/withdraw", json={"version": 1}).status_code == 403  # facilitators only
    assert mia.get(url).json()["version"] == 1

    withdrawn = sam.post(f"{page}/withdraw", data={"version": 1}, follow_redirects=False)
    assert withdrawn.status_code == 303 and withdrawn.headers["location"] == f"{page}?withdrawn=1"
    after = sam.get(withdrawn.headers["location"]).text
    assert "Version 1 is withdrawn: members no longer read it." in after and 'id="withdraw-memo"' not in after
    assert _said(after, "members-read").startswith("The members of Mentoring cohort cannot read this session yet.")
    assert mia.get(url).status_code == 404 and mia.get("/api/sessions").json() == []
    assert [(v["version"], v["status"], v["approved_by"]) for v in sam.get(url + "/versions").json()] == [
        (2, "draft", None), (1, "draft", None)]

    # The API does the same, and says what it withdrew; members then read the newest version still approved.
    sam.put(url + "/status", json={"status": "approved", "version": 2})
    sam.put(url, json={"markdown": FIRST_MEMO + "\n- Rewritten again.\n", "version": 2})
    sam.put(f"/api/sessions/{seeded_session}/memo/status", json={"status": "approved", "version": 3})
    sam.put(url, json={"markdown": FIRST_MEMO + "\n- And again.\n", "version": 3})
    by_script = sam.post(url + "/withdraw", json={"version": 3})
    assert by_script.status_code == 200 and (by_script.json()["version"], by_script.json()["status"]) == (3, "draft")
    assert mia.get(url).json()["version"] == 2
    assert sam.post(url + "/withdraw", json={"version": 3}).status_code == 200  # already withdrawn: nothing to do
    assert sam.post(url + "/withdraw", json={"version": 9}).status_code == 404
    with session_scope(settings) as db:
        logged = [(e.action, e.detail) for e in audit.recent(db, actor="sam@example.org", action="memo_withdrawn")]
    assert logged == [("memo_withdrawn", "version 3"), ("memo_withdrawn", "version 3"), ("memo_withdrawn", "version 1")]


def test_an_exported_draft_is_named_and_said_to_be_a_draft(app, settings, seeded_session) -> None:
    sam, mia = _facilitator_and_member(app, settings)
    url, page = f"/api/sessions/{seeded_session}/memo", f"/sessions/{seeded_session}/memo"

    def file_name(client, fmt: str = "md") -> str:
        return re.search(r'filename="([^"]+)"', client.get(f"{url}/export/{fmt}").headers["content-disposition"])[1]

    assert [file_name(sam, fmt) for fmt in ("md", "docx")] == ["Feedback_circle-memo-draft.md",
                                                               "Feedback_circle-memo-draft.docx"]
    assert _said(sam.get(page).text, "export-version") == (
        "These files hold version 1, a draft not approved yet: their names end in “-draft”.")
    sam.put(url + "/status", json={"status": "approved", "version": 1})
    assert file_name(sam) == "Feedback_circle-memo.md"
    assert _said(sam.get(page).text, "export-version") == "These files hold version 1, approved."
    sam.put(url, json={"markdown": FIRST_MEMO + "\n- Not approved yet.\n", "version": 1})
    draft = sam.get(f"{url}/export/md")
    assert "Not approved yet" in draft.text and "memo-draft.md" in draft.headers["content-disposition"]
    read = mia.get(f"{url}/export/md")  # a member gets the approved version, named as such
    assert "Not approved yet" not in read.text and 'filename="Feedback_circle-memo.md"' in read.headers["content-disposition"]
    assert _said(mia.get(page).text, "export-version") == "These files hold version 1, approved."


def test_the_sessions_list_tells_facilitators_what_members_can_read(app, settings, seeded_session) -> None:
    sam, mia = _facilitator_and_member(app, settings)
    url = f"/api/sessions/{seeded_session}/memo"

    def state(client) -> tuple:
        listed = client.get("/api/sessions").json()[0]
        return listed["memo_status"], listed["members_read_version"], _said(client.get("/").text, f"status-{seeded_session}")

    assert state(sam)[:2] == ("draft", None) and "Ready Memo: draft members cannot read it yet" in state(sam)[2]
    sam.put(url + "/status", json={"status": "approved", "version": 1})
    assert state(sam)[:2] == ("approved", 1) and "Ready Memo: approved" in state(sam)[2]
    sam.put(url, json={"markdown": FIRST_MEMO + "\n- Rewriting.\n", "version": 1})
    assert state(sam)[:2] == ("draft", 1) and "Ready Memo: draft members read version 1" in state(sam)[2]
    assert sam.get(f"/api/sessions/{seeded_session}").json()["members_read_version"] == 1
    # Members are not told of drafts: they read the approved version, and see only sessions that have one.
    assert state(mia)[:2] == (None, None) and "Memo:" not in state(mia)[2]


def test_a_facilitator_names_a_program_theme_on_its_page_and_in_the_api(app, client, seeded_session, settings) -> None:
    from fastapi.testclient import TestClient

    from insightcap.storage.search_tables import ThemeMemberRecord, ThemeRecord

    with session_scope(settings) as db:
        program_id = repo.get_session(db, seeded_session).program_id
        theme = ThemeRecord(program_id=program_id, label="Long emails, mentee", keywords=["long emails", "mentee"],
                            centroid=b"", count=1, trend="steady")
        db.add(theme)
        db.flush()
        db.add(ThemeMemberRecord(theme_id=theme.id, kind="insight", row_id=1, session_id=seeded_session, similarity=1))
        theme_id = theme.id

    page = client.get("/themes", params={"program": "Mentoring cohort"}).text
    assert f'<form class="inline-form" method="post" action="/themes/{theme_id}/label">' in page
    renamed = client.post(f"/themes/{theme_id}/label", data={"program": "Mentoring cohort", "label": "Feedback by email"},
                          follow_redirects=False)
    assert renamed.headers["location"] == f"/themes?program=Mentoring+cohort#theme-{theme_id}"
    assert f'<section class="theme" id="theme-{theme_id}">\n  <h2>Feedback by email</h2>' in client.get(renamed.headers["location"]).text
    answer = client.put(f"/api/programs/mentoring cohort/themes/{theme_id}", json={"label": ""})
    assert answer.json() == {"id": theme_id, "label": "Long emails, mentee"}  # empty: back to its key words
    assert client.put(f"/api/programs/Mentoring cohort/themes/{theme_id + 1}", json={"label": "x"}).status_code == 404
    token = make_account(settings, "reader@example.org", Role.MEMBER, ("Mentoring cohort",))
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"}) as member:
        assert member.put(f"/api/programs/Mentoring cohort/themes/{theme_id}", json={"label": "Mine"}).status_code == 403
    with session_scope(settings) as db:
        assert db.get(ThemeRecord, theme_id).label == "Long emails, mentee"
        assert [entry.detail for entry in audit.recent(db, action="rename_theme")] == [
            "Mentoring cohort: Long emails, mentee", "Mentoring cohort: Feedback by email"]


def test_pages_show_stored_moments_in_the_computers_own_time_zone(monkeypatch) -> None:
    """Moments are stored in UTC; the server runs on the facilitators' computer, so pages use its clock."""
    import time
    from datetime import UTC, datetime

    from insightcap.web.templating import local_time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert local_time(datetime(2026, 1, 1, 10, 0, tzinfo=UTC)) == "2026-01-01 15:30"
    finally:
        monkeypatch.undo()
        time.tzset()
