// Starts Swagger UI on the page shared/assets.py serves (ours, not vendored). Kept out of the
// page so the Content-Security-Policy needs no inline script: the OpenAPI document comes in a
// <script type="application/json" id="openapi-spec"> data block, which never executes.
(function () {
  "use strict";
  const spec = JSON.parse(document.getElementById("openapi-spec").textContent);
  window.ui = SwaggerUIBundle({
    spec: spec,
    dom_id: "#swagger-container",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // No badge fetched from validator.swagger.io: the page stays offline.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
