// The player and the transcript stay in step: a line click seeks, playback highlights the current
// line, and ?t=SECONDS (or an insight's link) opens the session at that moment.
"use strict";
(function () {
  const player = document.getElementById("player");
  const transcript = document.getElementById("transcript");
  if (!transcript) return;
  const lines = Array.from(transcript.querySelectorAll("li[data-start]"));
  const starts = lines.map((li) => Number(li.dataset.start));
  let current = null;

  function lineAt(seconds) {
    // The last line starting at or before `seconds` (binary search: transcripts run to thousands of lines).
    let low = 0, high = starts.length - 1, found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (starts[mid] <= seconds + 0.05) { found = mid; low = mid + 1; } else { high = mid - 1; }
    }
    return found >= 0 ? lines[found] : null;
  }

  function highlight(seconds, scroll) {
    const line = lineAt(seconds);
    if (line === current) return;
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    current = line;
    if (!line) return;
    line.classList.add("current");
    line.setAttribute("aria-current", "true");
    if (scroll) {
      const top = line.offsetTop - transcript.offsetTop - transcript.clientHeight / 3;
      transcript.scrollTo({ top: top, behavior: "smooth" });
    }
  }

  function seek(seconds, play) {
    highlight(seconds, true);
    if (!player) return;
    const go = () => {
      player.currentTime = seconds;
      if (play) player.play().catch(() => {});
    };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }

  transcript.addEventListener("click", (event) => {
    const button = event.target.closest("button.line");
    if (button) seek(Number(button.dataset.start), true);
  });
  document.querySelectorAll("a.moment").forEach((link) => link.addEventListener("click", (event) => {
    event.preventDefault();
    history.replaceState(null, "", link.href);
    seek(Number(link.dataset.start), true);
    (player || transcript).scrollIntoView({ block: "nearest" });
  }));
  if (player) {
    player.addEventListener("timeupdate", () => highlight(player.currentTime, !player.paused));
    player.addEventListener("seeked", () => highlight(player.currentTime, true));
  }
  const startAt = transcript.dataset.startAt;
  if (startAt !== "") seek(Number(startAt), false);
})();
