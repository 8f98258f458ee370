// Live submission status, without reloading the page.
//
// Every badge rendered by templates/submissions/_status.html carries its status and the URL of
// /submissions/<id>/status.json. While any badge on the page is queued or running, this polls
// those URLs every two seconds and puts the server-rendered badge (same partial) in place. On the
// submission page (its badge sits in #submission-live), once the status settles (scored or failed),
// it fetches the page again and swaps in its main content, so the scores, chart and reason appear
// as the server renders them.
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

  // The submission page, once settled: its main content as the server renders it now (scores,
  // chart, per-class table, and whatever else the page shows of a scored submission). The flashed
  // messages on top are kept: the fresh copy no longer has them.
  function refreshSubmissionPage() {
    var main = document.querySelector("main");
    if (!main) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (!fresh || !fresh.querySelector("#submission-live")) throw new Error("not the submission page");
        fresh.querySelectorAll(".flash").forEach(function (el) { el.remove(); });
        var nodes = Array.prototype.slice.call(main.querySelectorAll(":scope > .flash"));
        Array.prototype.forEach.call(fresh.childNodes, function (node) {
          nodes.push(document.importNode(node, true));
        });
        main.replaceChildren.apply(main, nodes);
        document.dispatchEvent(new CustomEvent("submission:updated"));
        schedule();  // the fresh copy could hold a pending badge again (rescored meanwhile)
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
        if (!data.pending && el.closest("#submission-live")) refreshSubmissionPage();
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
