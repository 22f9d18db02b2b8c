// The collapsed navigation on narrow screens: one button opens and closes the menu.
document.addEventListener("DOMContentLoaded", function () {
  var toggle = document.getElementById("menu-toggle");
  var menu = document.getElementById("site-menu");
  if (!toggle || !menu) return;
  toggle.addEventListener("click", function () {
    var open = menu.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
});

// Tables with column headings turn into one card per row on narrow screens (portal.css,
// "table.stack"): each cell is labelled with its column's heading here, so the action and the
// figures of a row are never off-screen. Without JavaScript, tables scroll inside their card.
(function () {
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function stack(root) {
    each((root || document).querySelectorAll("table"), function (table) {
      var head = table.tHead;
      if (!head || !head.rows.length) return;
      var labels = [];
      each(head.rows[0].cells, function (cell) {
        for (var i = 0; i < cell.colSpan; i++) labels.push(cell.textContent.trim());
      });
      each(table.tBodies, function (body) {
        each(body.rows, function (row) {
          var column = 0;
          each(row.cells, function (cell) {
            if (cell.colSpan === 1 && labels[column] && !cell.hasAttribute("data-label")) {
              cell.setAttribute("data-label", labels[column]);
            }
            column += cell.colSpan;
          });
        });
      });
      table.classList.add("stack");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { stack(document); });
  document.addEventListener("htmx:afterSettle", function () { stack(document); });
})();
