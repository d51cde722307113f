// Upload with a real progress bar: XHR reports bytes sent, fetch() cannot. Checks size and type
// before sending, so a 5 GB file or a PDF is refused in a second instead of after the upload.
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file");
  const zone = document.getElementById("dropzone");
  const errorBox = document.getElementById("upload-error");
  const box = document.getElementById("progress-box");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");
  const cancel = document.getElementById("cancel-upload");
  const maxBytes = Number(form.dataset.maxBytes);
  const transcriptTypes = [".vtt", ".srt", ".txt"];
  let request = null;

  // `link` (the API's {url, text}) says where to go instead: the session the same file already made.
  function showError(message, link) {
    errorBox.textContent = message;
    if (link) {
      const anchor = document.createElement("a");
      anchor.href = link.url;
      anchor.textContent = link.text;
      errorBox.append(" ", anchor);
    }
    errorBox.hidden = false;
    errorBox.focus && errorBox.scrollIntoView({ block: "nearest" });
  }

  function sizeText(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  }

  function problemWith(file) {
    if (!file) return "Choose a recording or transcript file first.";
    if (file.size === 0) return file.name + " is empty (0 bytes). Choose the complete file.";
    if (file.size > maxBytes) {
      return file.name + " is " + sizeText(file.size) + ", more than the " + form.dataset.maxSize +
        " limit. Export the recording with audio only (for example .m4a or .mp3), which is much smaller.";
    }
    const name = file.name.toLowerCase();
    const isTranscript = transcriptTypes.some((suffix) => name.endsWith(suffix));
    const isMedia = /^(audio|video)\//.test(file.type) || file.type === "";
    if (!isTranscript && !isMedia) {
      return file.name + " does not look like audio or video (" + file.type + "). Upload a recording, or a transcript (.vtt, .srt, .txt).";
    }
    return null;
  }

  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    }
  });
  input.addEventListener("change", () => {
    const file = input.files[0];
    const problem = problemWith(file);
    if (problem) { showError(problem); return; }
    errorBox.hidden = true;
    document.getElementById("drop-hint").textContent = file.name + " (" + sizeText(file.size) + ")";
  });

  function finish() {
    request = null;
    button.disabled = false;
    cancel.hidden = true;
  }

  cancel.addEventListener("click", () => {
    if (request) request.abort();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    const problem = problemWith(file);
    if (problem) { showError(problem); return; }
    errorBox.hidden = true;
    box.hidden = false;
    button.disabled = true;
    cancel.hidden = false;
    bar.value = 0;
    status.textContent = "Starting upload…";
    request = new XMLHttpRequest();
    request.open("POST", "/api/sessions");
    request.setRequestHeader("X-CSRF-Token", document.querySelector('meta[name="csrf-token"]').content);
    request.responseType = "json";
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const percent = Math.floor((e.loaded / e.total) * 100);
      bar.value = percent;
      status.textContent = percent + "% of " + sizeText(e.total) + " uploaded";
    });
    request.upload.addEventListener("load", () => { status.textContent = "Uploaded. Checking the file…"; });
    request.addEventListener("load", () => {
      const body = request.response || {};
      if (request.status === 202 && body.job_id) {
        status.textContent = "Done. Opening the progress page…";
        window.location.assign("/jobs/" + encodeURIComponent(body.job_id));
        return;
      }
      box.hidden = true;
      showError(body.detail || "The upload failed (HTTP " + request.status + "). Try again.", body.link);
      finish();
    });
    request.addEventListener("error", () => {
      box.hidden = true;
      showError("The connection was lost during the upload. Nothing was saved; try again.");
      finish();
    });
    request.addEventListener("abort", () => {
      box.hidden = true;
      showError("Upload cancelled. Nothing was saved.");
      finish();
    });
    request.send(new FormData(form));
  });
})();
