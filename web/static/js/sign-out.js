// Signing out forgets the memo text this browser kept for the account (memo.js keeps unsaved text
// until it is saved or discarded): the next person at this computer must not find it.
"use strict";
(function () {
  const signOut = document.getElementById("sign-out-form");
  if (!signOut) return;
  signOut.addEventListener("submit", function () {
    const prefix = signOut.dataset.draftPrefix;
    try {
      for (const key of Object.keys(window.localStorage)) {
        if (key.startsWith(prefix)) window.localStorage.removeItem(key);
      }
    } catch (error) { /* localStorage is off: nothing was kept */ }
  });
})();
