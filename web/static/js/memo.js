// The memo editor. Live preview: the server renders the Markdown (raw HTML disabled), so the preview is
// exactly what exports produce. Nothing typed is lost: unsaved text is kept in this browser's
// localStorage (per account and session, with the version it was based on) until a save succeeds or it
// is discarded, and brought back when the editor opens again, after a reload, a crash or a sign-in that
// expired while typing. Approving waits until the changes are saved, since it approves the saved version.
"use strict";
(function () {
  const textarea = document.getElementById("markdown");
  const preview = document.getElementById("preview");
  const form = document.getElementById("memo-form");
  if (!textarea || !preview || !form) return;
  const dirtyNote = document.getElementById("dirty");
  const basedOn = document.getElementById("based-on");
  const draftField = document.getElementById("draft-id");
  const restored = document.getElementById("draft-restored");
  const approve = document.getElementById("approve-memo");
  const approveHint = document.getElementById("approve-hint");
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const sessionId = preview.dataset.sessionId;
  const pageVersion = Number(form.dataset.version);
  // After a refused save the server shows the user's text and the saved one apart (#saved-markdown).
  const savedSource = document.getElementById("saved-markdown");
  const saved = savedSource ? savedSource.value : textarea.value;
  // Per account and session: someone else signing in on this browser never gets this text.
  const storageKey = form.dataset.draftKey;
  let timer = null;
  let submitting = false;

  // localStorage may be off or full: the editor then works as a plain form, with the leave warning.
  function readDraft() {
    try {
      const draft = JSON.parse(window.localStorage.getItem(storageKey));
      const whole = draft && typeof draft.id === "string" && typeof draft.text === "string";
      return whole && Number.isInteger(draft.version) ? draft : null;
    } catch (error) {
      return null;
    }
  }

  function forgetDraft() {
    try { window.localStorage.removeItem(storageKey); } catch (error) { /* nothing was kept */ }
    draftField.value = "";
  }

  function newDraftId() {
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  }

  function unsaved() {
    return textarea.value !== saved || Number(basedOn.value) !== pageVersion;
  }

  // Keeps the text as typed, with the version it is based on; the id comes back in the address after a
  // successful save (?draft=) or an explicit discard (?discard=), which is when the text is forgotten.
  function keepDraft() {
    if (textarea.value === saved) {
      forgetDraft();
      basedOn.value = pageVersion;
      return;
    }
    draftField.value = draftField.value || newDraftId();
    const draft = { id: draftField.value, version: Number(basedOn.value), text: textarea.value };
    try { window.localStorage.setItem(storageKey, JSON.stringify(draft)); } catch (error) { /* see readDraft */ }
  }

  function showState() {
    dirtyNote.textContent = unsaved() ? "Unsaved changes (kept in this browser until you save)" : "";
    if (approve) {
      approve.disabled = unsaved();
      approveHint.hidden = !unsaved();
    }
  }

  async function refresh() {
    try {
      const response = await fetch("/api/preview", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        body: JSON.stringify({ markdown: textarea.value, session_id: sessionId }),
      });
      if (response.ok) preview.innerHTML = (await response.json()).html;
      else if (response.status === 401) {
        dirtyNote.textContent = "Your sign-in has expired, so the preview stopped. Your text is kept in this " +
          "browser: save it, sign in again, and it will be back here.";
      }
    } catch (error) {
      dirtyNote.textContent = "Preview unavailable (server unreachable). Your text is still here.";
    }
  }

  function restore(draft) {
    textarea.value = draft.text;
    basedOn.value = draft.version;
    draftField.value = draft.id;
    document.getElementById("draft-restored-text").textContent = draft.version === pageVersion
      ? `Your unsaved text from earlier is back: it was kept in this browser, not saved as a version. ` +
        `Save it as a new version, or discard it to show version ${pageVersion} as saved.`
      : `Your unsaved text from earlier is back: it was based on version ${draft.version}, and version ` +
        `${pageVersion} has been saved since. Save it to see both texts side by side and merge them, ` +
        `or discard it to keep version ${pageVersion}.`;
    restored.hidden = false;
    refresh();
  }

  // Saved or discarded on the previous page: forget the kept text, and take the marker out of the
  // address so that reloading later cannot forget newer text.
  const params = new URLSearchParams(window.location.search);
  const done = params.get("draft") || params.get("discard");
  let draft = readDraft();
  if (draft && done && draft.id === done) {
    forgetDraft();
    draft = null;
  }
  if (["saved", "draft", "discard"].some((name) => params.has(name))) {
    window.history.replaceState(null, "", window.location.pathname + window.location.hash);
  }
  if (textarea.dataset.unsaved) {
    draftField.value = draftField.value || (draft && draft.id) || "";
    keepDraft();
  } else if (draft && draft.text !== saved) {
    restore(draft);
  } else if (draft) {
    forgetDraft();
  }
  showState();

  document.getElementById("discard-draft").addEventListener("click", () => {
    forgetDraft();
    textarea.value = saved;
    basedOn.value = pageVersion;
    restored.hidden = true;
    showState();
    refresh();
    textarea.focus();
  });
  textarea.addEventListener("input", () => {
    keepDraft();
    showState();
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  });
  // Saving keeps the text until the save is confirmed; reopening or withdrawing reloads the editor,
  // which brings the kept text back. None of them is leaving with unsaved changes.
  [form, document.getElementById("status-form"), document.getElementById("withdraw-form")].forEach((sent) => {
    if (sent) sent.addEventListener("submit", () => { keepDraft(); submitting = true; });
  });
  window.addEventListener("beforeunload", (event) => {
    if (!submitting && unsaved()) event.preventDefault();
  });
})();
