// Follows an export job: polls its small JSON status, moves the progress bar, and shows the
// download link (or the error) when the job ends. No library; the page works without it too
// (reloading shows the same state).
(function () {
  "use strict";

  var root = document.getElementById("export-job");
  if (!root || root.getAttribute("data-finished") === "true") {
    return;
  }
  var url = root.getAttribute("data-status-url");
  var bar = document.getElementById("export-progress");
  var label = document.getElementById("export-status");
  var error = document.getElementById("export-error");
  var link = document.getElementById("export-download");
  // The row, not the link, is hidden: the link's button style would override "hidden".
  var linkRow = document.getElementById("export-download-row");
  var names = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };
  var delay = 700;

  function show(status) {
    bar.value = status.progress;
    bar.textContent = status.progress + "%";
    label.textContent =
      (names[status.status] || status.status) +
      " — " + status.progress + "%" +
      (status.step ? " (" + status.step + ")" : "");
    if (status.status === "done" && status.download_url) {
      link.href = status.download_url;
      linkRow.hidden = false;
    }
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
        if (!status.finished) {
          window.setTimeout(poll, delay);
        }
      })
      .catch(function () {
        // A network hiccup or a restarting server: try again, more slowly.
        delay = Math.min(delay * 2, 10000);
        window.setTimeout(poll, delay);
      });
  }

  poll();
})();
