// Sortable tables: a header of <table class="sortable"> with data-sort="number" or "text" becomes a
// button that sorts the rows by that column (again: the other way). A cell's data-value, when
// present, is what sorts (empty sorts last either way). The server's order stands without
// JavaScript. Used by the per-class errors on a submission page (templates/submissions/_per_class.html).
(function () {
  "use strict";

  function cellValue(row, index, kind) {
    var cell = row.cells[index];
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (raw === "") return null;
    if (kind === "number") {
      var number = parseFloat(raw);
      return isNaN(number) ? null : number;
    }
    return raw.toLowerCase();
  }

  function sortBy(table, th, index) {
    var kind = th.getAttribute("data-sort");
    var descending = th.getAttribute("aria-sort") === "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, kind), y = cellValue(b, index, kind);
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);  // empty last
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("th[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function enhance(table) {
    if (table.getAttribute("data-sortable-ready")) return;
    table.setAttribute("data-sortable-ready", "1");
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      if (!th.hasAttribute("data-sort")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, th, index); });
    });
  }

  function start() {
    document.querySelectorAll("table.sortable").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  // The submission page's live status swaps in a fresh results block once scored.
  document.addEventListener("submission:updated", start);
})();
