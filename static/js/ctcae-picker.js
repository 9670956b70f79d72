/* CTCAE term picker: search the trial's CTCAE dictionary as you type (the safety API), pick a
 * term, and see each grade's definition; grades the term does not define are disabled.
 * Without JavaScript the form still works: type the exact term, the server checks the grade. */
(function () {
  "use strict";

  var root = document.querySelector("[data-ctcae-picker]");
  if (!root) return;
  var input = root.querySelector("input[name=term]");
  var results = root.querySelector("[data-results]");
  var chosen = root.querySelector("[data-chosen]");
  var code = document.querySelector("input[name=meddra_code]");
  var gradeSelect = document.querySelector("select[data-grade-select]");
  var searchUrl = root.getAttribute("data-search-url");
  var timer = null;
  var lastQuery = "";
  var active = -1;

  function setExpanded(open) {
    input.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function applyGrades(term) {
    if (!gradeSelect) return;
    var byGrade = {};
    term.grades.forEach(function (g) { byGrade[String(g.grade)] = g; });
    Array.prototype.forEach.call(gradeSelect.options, function (option) {
      var g = byGrade[option.value];
      if (!g) return;
      option.disabled = !g.allowed;
      option.textContent = "Grade " + g.grade + ": " + (g.allowed ? g.text : "not defined for this term");
      if (option.selected && option.disabled) gradeSelect.value = "";
    });
  }

  function resetGrades() {
    if (!gradeSelect) return;
    Array.prototype.forEach.call(gradeSelect.options, function (option) {
      if (!option.value) return;
      option.disabled = false;
      option.textContent = "Grade " + option.value;
    });
  }

  function choose(term) {
    input.value = term.term;
    if (code) code.value = term.meddra_code;
    chosen.textContent = term.term + " (" + term.soc + "; MedDRA " + term.meddra_code + ")";
    results.replaceChildren();
    setExpanded(false);
    applyGrades(term);
    if (gradeSelect) gradeSelect.focus();
  }

  function highlight(index) {
    var items = results.querySelectorAll("li");
    active = Math.max(-1, Math.min(index, items.length - 1));
    Array.prototype.forEach.call(items, function (li, i) {
      li.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function render(terms) {
    results.replaceChildren();
    active = -1;
    terms.forEach(function (term, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.id = "ctcae-option-" + i;
      var button = document.createElement("button");
      button.type = "button";
      button.tabIndex = -1;
      button.textContent = term.term;
      var soc = document.createElement("small");
      soc.textContent = term.soc + (term.definition ? " \u2014 " + term.definition : "");
      button.appendChild(soc);
      button.addEventListener("click", function () { choose(term); });
      li.appendChild(button);
      li.termData = term;
      results.appendChild(li);
    });
    setExpanded(terms.length > 0);
  }

  function search() {
    var query = input.value.trim();
    if (query === lastQuery) return;
    lastQuery = query;
    if (query.length < 2) { render([]); return; }
    var url = searchUrl + (searchUrl.indexOf("?") < 0 ? "?" : "&") + "search=" + encodeURIComponent(query);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (terms) { if (query === input.value.trim()) render(terms); })
      .catch(function () { render([]); });
  }

  input.addEventListener("input", function () {
    if (code && code.value) resetGrades();
    if (code) code.value = "";
    chosen.textContent = "";
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });

  input.addEventListener("keydown", function (event) {
    var items = results.querySelectorAll("li");
    if (event.key === "ArrowDown" && items.length) { highlight(active + 1); event.preventDefault(); }
    else if (event.key === "ArrowUp" && items.length) { highlight(active - 1); event.preventDefault(); }
    else if (event.key === "Enter" && active >= 0) { choose(items[active].termData); event.preventDefault(); }
    else if (event.key === "Escape") { render([]); }
  });
})();
