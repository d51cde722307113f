// The player and the transcript stay in step: a line click seeks, playback highlights the current
// line, and ?t=SECONDS (or an insight's link) opens the session at that moment, its line in view.
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

  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  // The player sticks to the top of the window: a line under it is not in view.
  const playerHeight = () => (player ? player.parentElement.offsetHeight : 0);

  function reveal(line, jump) {
    // The line centred in the transcript's own scroll box. After a jump (a time link, a seek, ?t=) the
    // window too scrolls it to the middle if it is out of view, however far down the page was read;
    // following playback moves the box only, so reading the insights is never interrupted. Both
    // positions are computed up front: a smooth scroll of the box has not moved the line yet.
    const behavior = reducedMotion.matches ? "auto" : "smooth";
    const box = transcript.getBoundingClientRect(), at = line.getBoundingClientRect();
    const inBox = at.top - box.top - transcript.clientTop + transcript.scrollTop;
    const most = Math.max(transcript.scrollHeight - transcript.clientHeight, 0);
    const boxTop = Math.min(Math.max(inBox - (transcript.clientHeight - at.height) / 2, 0), most);
    transcript.scrollTo({ top: boxTop, behavior: behavior });
    const willBeAt = at.top + transcript.scrollTop - boxTop;  // in the window, once the box has scrolled
    if (jump && (willBeAt < playerHeight() || willBeAt + at.height > window.innerHeight)) {
      window.scrollTo({ top: window.scrollY + willBeAt - (window.innerHeight - at.height) / 2, behavior: behavior });
    }
  }

  function highlight(seconds, scroll, jump) {
    const line = lineAt(seconds);
    if (line !== current) {
      if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
      current = line;
      if (!line) return;
      line.classList.add("current");
      line.setAttribute("aria-current", "true");
    } else if (!jump) {
      return;  // playback moves on within the same line
    }
    if (line && scroll) reveal(line, jump);
  }

  function seek(seconds, play) {
    highlight(seconds, true, true);
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
  }));
  if (player) {
    player.addEventListener("timeupdate", () => highlight(player.currentTime, !player.paused, false));
    player.addEventListener("seeked", () => highlight(player.currentTime, true, true));
  }
  const startAt = transcript.dataset.startAt;
  if (startAt !== "") seek(Number(startAt), false);
})();
