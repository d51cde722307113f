// Swagger UI for the JSON API, vendored (no CDN) and started from this file (no inline script).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: root.dataset.openapiUrl, dom_id: "#swagger-ui" });
});
