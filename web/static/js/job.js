// Live job progress by polling GET /api/jobs/{id}: survives reloads and leaving the page, because
// the job's state lives in the database, not in this page.
"use strict";
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const jobId = root.dataset.jobId;
  const bar = document.getElementById("job-progress");
  const message = document.getElementById("job-message");
  const errorBox = document.getElementById("job-error");
  const errorText = document.getElementById("job-error-text");
  const done = document.getElementById("job-done");
  const stateText = { done: "done", running: "running", waiting: "waiting", failed: "failed" };

  function render(job) {
    bar.value = job.progress;
    bar.textContent = Math.round(job.progress * 100) + "%";
    if (job.status === "done") message.textContent = "Done.";
    else if (job.status === "failed") message.textContent = "Stopped.";
    else if (job.status === "queued") message.textContent = "Waiting for the worker…";
    else {
      const detail = job.message && job.message !== job.stage_label ? ": " + job.message : "";
      message.textContent = job.stage_label + detail + " (" + Math.round(job.stage_progress * 100) + "%)";
    }
    job.stages.forEach((stage) => {
      const item = root.querySelector('[data-stage="' + stage.name + '"]');
      if (!item) return;
      item.className = "stage stage-" + stage.state;
      item.querySelector(".stage-state").textContent = stateText[stage.state];
    });
    errorBox.hidden = job.status !== "failed";
    errorText.textContent = job.error || "";
    done.hidden = job.status !== "done";
    root.dataset.status = job.status;
  }

  async function poll() {
    try {
      const response = await fetch("/api/jobs/" + encodeURIComponent(jobId), { headers: { Accept: "application/json" } });
      if (response.ok) {
        const job = await response.json();
        render(job);
        if (job.status === "done" || job.status === "failed") return;
      }
    } catch (error) {
      message.textContent = "Lost contact with the server; retrying…";
    }
    window.setTimeout(poll, 1000);
  }

  if (root.dataset.status !== "done" && root.dataset.status !== "failed") poll();
})();
