// Live preview: the server renders the Markdown (raw HTML disabled), so the preview is exactly what
// exports produce. Also warns before leaving with unsaved changes.
"use strict";
(function () {
  const textarea = document.getElementById("markdown");
  const preview = document.getElementById("preview");
  const form = document.getElementById("memo-form");
  const dirtyNote = document.getElementById("dirty");
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  if (!textarea || !preview || !form) return;
  const saved = textarea.value;
  let timer = null;
  let submitting = false;

  async function refresh() {
    try {
      const response = await fetch("/api/preview", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        body: JSON.stringify({ markdown: textarea.value, session_id: preview.dataset.sessionId }),
      });
      if (response.ok) preview.innerHTML = (await response.json()).html;
    } catch (error) {
      dirtyNote.textContent = "Preview unavailable (server unreachable). Your text is still here.";
    }
  }

  textarea.addEventListener("input", () => {
    dirtyNote.textContent = textarea.value === saved ? "" : "Unsaved changes";
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  });
  form.addEventListener("submit", () => { submitting = true; });
  window.addEventListener("beforeunload", (event) => {
    if (!submitting && textarea.value !== saved) event.preventDefault();
  });
})();
