// Starts GraphiQL on the page shared/assets.py serves (ours, not vendored). Kept out of the
// page so the Content-Security-Policy needs no inline script: the page's settings come in a
// <script type="application/json" id="graphiql-config"> data block, which never executes.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("graphiql-config").textContent);
  const url = new URL(cfg.graphqlPath, window.location.href);
  const wsUrl = new URL(url);
  wsUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  // "#token=XYZ" prefills the Authorization header. A fragment never
  // reaches the server, so the token does not end up in access logs.
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  const props = {
    fetcher: GraphiQL.createFetcher({ url: url.href, subscriptionUrl: wsUrl.href }),
    defaultQuery: cfg.defaultQuery,
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    // Never store tokens in localStorage.
    shouldPersistHeaders: false,
  };
  if (token) {
    props.headers = JSON.stringify({ Authorization: "Bearer " + token }, null, 2);
  }
  ReactDOM.createRoot(document.getElementById("graphiql"))
    .render(React.createElement(GraphiQL, props));
})();
