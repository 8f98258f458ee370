// Live submission status, without reloading the page.
//
// Every badge rendered by templates/submissions/_status.html carries its status and the URL of
// /submissions/<id>/status.json. While any badge on the page is queued or running, this polls
// those URLs every two seconds and puts the server-rendered badge (same partial) in place. On the
// submission page, once the status settles (scored or failed), it fetches the page again and swaps
// in its #submission-live block, so the scores, chart and reason appear as the server renders them.
// Without JavaScript nothing here runs and the pages say to reload.
(function () {
  "use strict";
  if (window.liveStatusLoaded) return;  // included by several partials on one page
  window.liveStatusLoaded = true;

  var INTERVAL_MS = 2000;
  var PENDING = { queued: true, running: true };
  var timer = null;

  function pendingBadges() {
    var all = document.querySelectorAll(".live-status[data-status-url]");
    return Array.prototype.filter.call(all, function (el) {
      return PENDING[el.getAttribute("data-status")] === true;
    });
  }

  // Update the badge in place (its element stays, so aria-live announces the change).
  function applyBadge(el, html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.querySelector(".live-status");
    if (!fresh) return;
    if (el.innerHTML !== fresh.innerHTML) el.innerHTML = fresh.innerHTML;
    el.setAttribute("data-status", fresh.getAttribute("data-status"));
  }

  function refreshSubmissionBlock() {
    var block = document.getElementById("submission-live");
    if (!block) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("submission-live");
        if (!fresh) throw new Error("no #submission-live in the page");
        block.replaceWith(document.importNode(fresh, true));
        document.dispatchEvent(new CustomEvent("submission:updated"));
        schedule();  // the fresh block could still hold a pending badge (status changed again)
      })
      .catch(function () { window.location.reload(); });
  }

  function poll(el) {
    return fetch(el.getAttribute("data-status-url"), {
      credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
    })
      .then(function (response) {
        if (response.status === 404 || response.status === 401 || response.status === 403) {
          el.removeAttribute("data-status-url");  // gone or no longer ours: stop asking
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (!data) return;
        applyBadge(el, data.badge_html);
        if (!data.pending && el.closest("#submission-live")) refreshSubmissionBlock();
      })
      .catch(function () { /* a transient failure (network, restart): the next tick asks again */ });
  }

  function tick() {
    timer = null;
    var badges = pendingBadges();
    if (!badges.length) return;
    if (document.hidden) { schedule(); return; }  // a background tab need not poll
    Promise.all(badges.map(poll)).then(schedule);
  }

  function schedule() {
    if (timer === null && pendingBadges().length) timer = window.setTimeout(tick, INTERVAL_MS);
  }

  function start() {
    if (!pendingBadges().length) return;
    document.querySelectorAll(".live-hint").forEach(function (hint) {
      hint.textContent = "Waiting for a worker; this page updates itself when the status changes.";
    });
    schedule();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
