// Upload progress for the track page's upload form (templates/submissions/_upload_form.html).
//
// The form is sent with XMLHttpRequest, whose upload events drive a <progress> element. The server
// answers such a request with {"redirect": url} instead of a 302 (see submissions.views._go), so the
// flashed message (accepted, or why the file was refused) is still waiting in the session when the
// browser goes there. Without JavaScript the form is a plain post and the server redirects.
(function () {
  "use strict";

  function human(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  function enhance(form) {
    var box = form.querySelector(".upload-progress");
    var bar = form.querySelector("progress");
    var text = form.querySelector(".upload-progress-text");
    var button = form.querySelector("button[type=submit]");
    if (!box || !bar || !text || !window.FormData) return;

    function fail(message) {
      text.textContent = message;
      box.classList.add("upload-failed");
      if (button) button.disabled = false;
    }

    form.addEventListener("submit", function (event) {
      if (!form.checkValidity()) return;  // let the browser point at the missing field
      event.preventDefault();
      var file = form.querySelector("input[type=file]");
      var size = file && file.files.length ? file.files[0].size : 0;
      var limit = parseInt(form.getAttribute("data-max-bytes") || "0", 10);
      box.hidden = false;
      box.classList.remove("upload-failed");
      if (limit && size > limit) {
        fail("The file is " + human(size) + "; the limit is " + human(limit) + ".");
        return;
      }
      if (button) button.disabled = true;
      bar.value = 0;
      text.textContent = "0 of " + human(size);

      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.value = Math.round((e.loaded / e.total) * 100);
        text.textContent = human(e.loaded) + " of " + human(e.total);
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        text.textContent = "Uploaded; the server is checking the file…";
      });
      xhr.addEventListener("load", function () {
        var target = null;
        try { target = JSON.parse(xhr.responseText).redirect; } catch (ignored) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300 && target) {
          window.location.assign(target);
        } else if (xhr.status === 413) {
          fail("Upload refused: the file is larger than the server accepts.");
        } else if (xhr.status === 400) {
          fail("Upload refused: the form expired; reload the page and try again.");
        } else if (xhr.status === 401) {
          fail("Your session has ended; log in again and retry.");
        } else {
          fail("Upload failed (HTTP " + xhr.status + "); please try again.");
        }
      });
      xhr.addEventListener("error", function () { fail("Upload failed: the connection was lost."); });
      xhr.addEventListener("abort", function () { fail("Upload cancelled."); });
      xhr.send(new FormData(form));
    });
  }

  function start() {
    document.querySelectorAll("form.upload-form").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
