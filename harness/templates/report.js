/* bindmatrix report: filters, per-case detail, #case=<id> links, and a #selftest hook that
   the test suite reads back from the DOM (chromium --headless --dump-dom). No network. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("bm-data").textContent);
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("details.scen"));
  var q = document.getElementById("q");
  var fDis = document.getElementById("f-disagree");
  var fDoc = document.getElementById("f-doc");
  var fProb = document.getElementById("f-problem");
  var count = document.getElementById("count");
  var noneShown = document.getElementById("none-shown");
  /* each row's searchable text: its data-s plus its scenario's name and title */
  var texts = rows.map(function (tr) {
    var sum = tr.closest("details").querySelector("summary");
    return tr.getAttribute("data-s") + " " + sum.textContent.toLowerCase();
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function filtering() {
    return fDis.checked || fProb.checked || q.value.trim() !== "";
  }

  /* Show the rows that pass every filter; returns how many are visible. */
  function apply() {
    var terms = q.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var key = fDoc.checked ? "dd" : "d";
    var visible = 0;
    rows.forEach(function (tr, n) {
      var show = true;
      if (fDis.checked && tr.getAttribute("data-" + key) !== "1") { show = false; }
      if (show && fProb.checked && tr.getAttribute("data-p") !== "1") { show = false; }
      if (show && terms.length) {
        var s = texts[n];
        for (var i = 0; i < terms.length; i++) {
          if (s.indexOf(terms[i]) < 0) { show = false; break; }
        }
      }
      tr.hidden = !show;
      var next = tr.nextElementSibling;
      if (next && next.classList.contains("detail")) { next.hidden = !show; }
      if (show) { visible++; }
    });
    var active = filtering();
    sections.forEach(function (sec) {
      var n = sec.querySelectorAll("tr.row:not([hidden])").length;
      sec.hidden = n === 0;
      sec.querySelector(".b.shown").textContent = active ? n + " shown" : "";
      if (active && n > 0) { sec.open = true; }
    });
    count.textContent = active ? "showing " + visible + " of " + rows.length + " cases"
                               : rows.length + " cases";
    noneShown.hidden = visible !== 0;
    return visible;
  }

  function stepsText(steps) {
    if (!steps || !steps.length) { return ""; }
    return steps.map(function (s) { return s[0] + "  " + s[1]; }).join("\n");
  }

  /* The detail panel of one case: description, then per host expected vs observed. */
  function detailRow(tr) {
    var i = parseInt(tr.getAttribute("data-i"), 10);
    var row = data.rows[i];
    var title = data.titles[row.ti] || ["", ""];
    var d = el("tr", "detail");
    var td = el("td");
    td.colSpan = tr.children.length;
    d.appendChild(td);
    td.appendChild(el("h3", null, tr.getAttribute("data-id")));
    if (title[0]) { td.appendChild(el("div", "title", title[0])); }
    if (title[1]) { td.appendChild(el("div", "src", "Reference: " + title[1])); }
    var t = el("table");
    var head = el("tr");
    ["host", "verdict", "expected", "observed", "why / source", "notes"].forEach(function (h) {
      head.appendChild(el("th", null, h));
    });
    t.appendChild(head);
    row.cells.forEach(function (c, j) {
      var r = el("tr");
      r.appendChild(el("td", null, data.hosts[j]));
      r.appendChild(el("td", "c v-" + c.v, c.v));
      var exp = c.same ? c.obs : c.exp;
      r.appendChild(el("td", "steps", stepsText(exp) || (c.rule !== undefined ? ""
                                                           : "(no expectation)")));
      var obs = c.obs ? stepsText(c.obs) : (c.v === "documented" || c.v === "undocumented"
                                              ? "(documented, not run)" : c.t);
      r.appendChild(el("td", "steps", obs));
      var why = el("td", "why");
      if (c.rule !== undefined) {
        var rule = data.rules[c.rule];
        why.appendChild(el("div", null, rule.why));
        why.appendChild(el("div", "src", "source: " + rule.source));
        why.appendChild(el("div", "src", rule.prov + (rule.seen ? " on " + rule.seen : "") +
                                         " · " + rule.at));
      }
      r.appendChild(why);
      var notes = el("td");
      (c.diffs || []).forEach(function (m) { notes.appendChild(el("div", "diff", m)); });
      if (c.reason) { notes.appendChild(el("div", null, "reason: " + c.reason)); }
      if (c.note) { notes.appendChild(el("div", null, c.note)); }
      (c.ev || []).forEach(function (e) {
        var div = el("div", null, e.kind + ": ");
        if (e.href) {
          var a = el("a", null, e.path);
          a.href = e.href;
          div.appendChild(a);
        } else {
          div.appendChild(document.createTextNode(e.path + " (missing)"));
        }
        if (e.note) { div.appendChild(document.createTextNode(" — " + e.note)); }
        notes.appendChild(div);
      });
      if (c.pk && c.pk.length) {     /* the capture, decoded: what was on the wire */
        notes.appendChild(el("div", "pk", c.pk.join("\n")));
      }
      r.appendChild(notes);
      t.appendChild(r);
    });
    td.appendChild(t);
    return d;
  }

  function toggle(tr, open) {
    var next = tr.nextElementSibling;
    var isOpen = next && next.classList.contains("detail");
    if (open === undefined) { open = !isOpen; }
    if (isOpen && !open) { next.remove(); tr.classList.remove("sel"); }
    if (!isOpen && open) { tr.after(detailRow(tr)); tr.classList.add("sel"); }
  }

  rows.forEach(function (tr) {
    tr.addEventListener("click", function (ev) {
      if (ev.target.closest("a")) { return; }
      toggle(tr);
    });
    tr.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(tr); }
    });
  });

  var timer = null;
  q.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 120);
  });
  [fDis, fDoc, fProb].forEach(function (box) { box.addEventListener("change", apply); });
  document.getElementById("expand-all").addEventListener("click", function () {
    sections.forEach(function (s) { s.open = true; });
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    sections.forEach(function (s) { s.open = false; });
  });

  /* #case=<id>: open that case's detail (clearing filters that hide it). */
  function showCase(id) {
    var tr = rows.filter(function (r) { return r.getAttribute("data-id") === id; })[0];
    if (!tr) { return false; }
    if (tr.hidden) {
      q.value = ""; fDis.checked = false; fProb.checked = false;
      apply();
    }
    tr.closest("details").open = true;
    toggle(tr, true);
    tr.scrollIntoView({block: "center"});
    return true;
  }

  function route() {
    var h = location.hash;
    if (h.indexOf("#case=") === 0) { showCase(decodeURIComponent(h.slice(6))); }
  }

  /* #selftest: exercise the filters and the detail panel, leave "only where hosts disagree"
     applied, and write what happened into #selftest for the test suite to read. */
  function selftest() {
    var res = {total: rows.length, sections: sections.length};
    fDis.checked = true; res.disagree = apply();
    fDoc.checked = true; res.disagree_all = apply(); fDoc.checked = false;
    fDis.checked = false; fProb.checked = true; res.problem = apply(); fProb.checked = false;
    q.value = "udp"; res.text_udp = apply();
    q.value = "no-such-case-xyz"; res.text_none = apply();
    res.none_message = !noneShown.hidden;
    q.value = "";
    res.all = apply();
    var first = rows[0];
    if (first) {
      toggle(first, true);
      var det = first.nextElementSibling;
      res.detail_hosts = det ? det.querySelectorAll("tr").length - 1 : 0;
      res.detail_text = det ? det.textContent.slice(0, 200) : "";
      toggle(first, false);
    }
    /* how many host columns of the first matrix table a reader sees without scrolling */
    var firstTable = document.querySelector("details.scen[open] table.m");
    if (firstTable) {
      var heads = Array.prototype.slice.call(firstTable.querySelectorAll("th.hk"));
      res.host_columns = heads.length;
      res.columns_in_view = heads.filter(function (th) {
        var r = th.getBoundingClientRect();
        return r.width > 0 && r.right <= window.innerWidth;
      }).length;
      res.window_width = window.innerWidth;
      var cid = firstTable.querySelector("td.cid");
      res.case_column_sticky = cid ? getComputedStyle(cid).position === "sticky" : false;
    }
    fDis.checked = true;
    res.final_visible = apply();
    var shown = rows.filter(function (r) { return !r.hidden; })[0];
    if (shown) { toggle(shown, true); }    /* left open for the screenshot */
    if (location.hash === "#selftest-matrix") {
      /* the matrix alone, at the top: what a screenshot of the comparison shows */
      document.body.classList.add("matrix-only");
    }
    res.hidden_rows = document.querySelectorAll("tr.row[hidden]").length;
    res.ok = true;
    var out = document.getElementById("bm-selftest");
    out.hidden = false;
    out.setAttribute("data-result", JSON.stringify(res));
    out.textContent = "selftest " + JSON.stringify(res);
  }

  window.addEventListener("hashchange", route);
  apply();
  if (location.hash === "#selftest" || location.hash === "#selftest-matrix") {
    try { selftest(); } catch (e) {
      var out = document.getElementById("bm-selftest");
      out.hidden = false;
      out.setAttribute("data-error", String(e && e.stack || e));
    }
  } else {
    route();
  }
}());
