// Live job progress by polling GET /api/jobs/{id}: survives reloads and leaving the page, because
// the job's state lives in the database, not in this page.
"use strict";
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const jobId = root.dataset.jobId;
  const bar = document.getElementById("job-progress");
  const message = document.getElementById("job-message");
  const errorText = document.getElementById("job-error-text");
  const notice = document.getElementById("job-notice");
  const phased = root.querySelectorAll("[data-when]");
  const POLL_MS = 1000;
  const LONGEST_WAIT_MS = 30000;
  let wait = POLL_MS;
  let clock = null;

  function timeLeft(job) {
    // Only transcription reports its own time left; for the other stages it is estimated from how
    // far the stage has moved since this page first saw it run.
    if (!clock || clock.stage !== job.stage || job.stage_progress < clock.progress) {
      clock = { stage: job.stage, progress: job.stage_progress, at: Date.now() };
      return "";
    }
    const seconds = (Date.now() - clock.at) / 1000;
    const moved = job.stage_progress - clock.progress;
    if (seconds < 5 || moved < 0.02) return "";
    const left = (1 - job.stage_progress) * seconds / moved;
    return left < 60 ? ", less than a minute left" : ", about " + Math.round(left / 60) + " min left";
  }

  // The server words where the job is (JobOut.summary); a running stage gains its share done and time left.
  function running(job) {
    const left = / left$/.test(job.message || "") ? "" : timeLeft(job);
    return job.summary + " (" + Math.round(job.stage_progress * 100) + "%" + left + ")";
  }

  function render(job) {
    const phase = job.phase;
    bar.value = job.progress;
    bar.textContent = Math.round(job.progress * 100) + "%";
    message.textContent = phase === "running" ? running(job) : job.summary;
    // Heading, hints, the error with Retry or "Upload another recording", the links once done.
    phased.forEach((element) => { element.hidden = !element.dataset.when.split(" ").includes(phase); });
    job.stages.forEach((stage) => {
      const item = root.querySelector('[data-stage="' + stage.name + '"]');
      if (!item) return;
      item.className = "stage stage-" + stage.state;
      item.querySelector(".stage-state").textContent = stage.state.replace("_", " ");
    });
    errorText.textContent = job.error || "";
    root.dataset.status = job.status;
  }

  function showNotice(text, link) {
    notice.textContent = text;
    if (link) {
      const anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.textContent = link.text;
      notice.append(" ", anchor);
    }
    notice.hidden = false;
  }

  function stop(text, link) {
    // Asking again cannot help: the job is gone, or every answer will be "sign in" until the user does.
    message.textContent = "Stopped following this job.";
    showNotice(text, link);
    root.dataset.status = "gone";
  }

  function retryLater(problem) {
    wait = Math.min(wait * 2, LONGEST_WAIT_MS);
    showNotice(problem + " Trying again in " + Math.round(wait / 1000) + " s…");
    window.setTimeout(poll, wait);
  }

  async function poll() {
    let response, job;
    try {
      response = await fetch("/api/jobs/" + encodeURIComponent(jobId), { headers: { Accept: "application/json" } });
      if (response.ok) job = await response.json();
    } catch (error) {
      retryLater("Lost contact with the server.");
      return;
    }
    if (response.status === 404) {
      stop("This session was deleted, so it will not be processed.", { href: "/", text: "Back to the sessions list" });
    } else if (response.status === 401) {
      const back = window.location.pathname + window.location.search;
      stop("Your sign-in has expired.", { href: "/login?next=" + encodeURIComponent(back), text: "Sign in again" });
    } else if (!response.ok) {
      retryLater("The server could not report progress (error " + response.status + ").");
    } else {
      wait = POLL_MS;
      notice.hidden = true;
      render(job);
      if (job.status !== "done" && job.status !== "failed") window.setTimeout(poll, POLL_MS);
    }
  }

  if (root.dataset.status !== "done" && root.dataset.status !== "failed") poll();
})();
