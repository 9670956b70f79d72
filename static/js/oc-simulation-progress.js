// Follows a Monte Carlo simulation job: polls its small JSON status, moves the progress bar,
// and reloads the page when the job has finished so the results table appears. No library;
// without JavaScript, reloading the page shows the same state.
(function () {
  "use strict";

  var root = document.getElementById("oc-job");
  if (!root || root.getAttribute("data-finished") === "true") {
    return;
  }
  var url = root.getAttribute("data-status-url");
  var bar = document.getElementById("oc-progress");
  var label = document.getElementById("oc-status");
  var error = document.getElementById("oc-error");
  var names = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };
  var delay = 500;

  function show(status) {
    bar.value = status.progress;
    bar.textContent = status.progress + "%";
    label.textContent = (names[status.status] || status.status) + " — " + status.progress + "%";
    if (status.status === "failed") {
      error.textContent = status.error;
      error.hidden = false;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        show(status);
        if (status.finished) {
          if (status.status === "done") {
            window.location.reload();
          }
          return;
        }
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // A network hiccup or a restarting server: try again, more slowly.
        delay = Math.min(delay * 2, 10000);
        window.setTimeout(poll, delay);
      });
  }

  poll();
})();
