// tether dashboard: live updates and filters. No inline script, no library: the server
// renders (and escapes) every piece of HTML; this only swaps in what it rendered.
"use strict";

(function () {
  const live = document.getElementById("live");
  const fleet = document.getElementById("fleet");
  const appPage = document.getElementById("app");

  function setLive(text, ok) {
    if (!live) return;
    live.textContent = text;
    live.classList.toggle("ok", ok);
  }

  async function swap(target, url) {
    const response = await fetch(url, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!response.ok) return;
    const html = await response.text();
    const parsed = new DOMParser().parseFromString(
      target.tagName === "TBODY" ? "<table><tbody>" + html + "</tbody></table>" : html,
      "text/html"
    );
    const source = target.tagName === "TBODY" ? parsed.querySelector("tbody") : parsed.body;
    target.replaceChildren(...Array.from(source.childNodes));
  }

  function applyFilters() {
    if (!fleet) return;
    const text = document.getElementById("filter-text").value.trim().toLowerCase();
    const sync = document.getElementById("filter-sync").value;
    const health = document.getElementById("filter-health").value;
    let shown = 0;
    let total = 0;
    for (const row of fleet.querySelectorAll("tr.app")) {
      total += 1;
      const visible =
        (!text || (row.dataset.text || "").toLowerCase().includes(text)) &&
        (!sync || row.dataset.sync === sync) &&
        (!health || row.dataset.health === health);
      row.hidden = !visible;
      if (visible) shown += 1;
    }
    document.getElementById("count").textContent = shown + " of " + total;
  }

  // One refresh at a time; a change during a refresh schedules exactly one more.
  let refreshing = false;
  let again = false;
  async function refresh(key) {
    if (appPage && key && key !== appPage.dataset.key) return;
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      if (fleet) {
        await swap(document.getElementById("rows"), fleet.dataset.rows);
        applyFilters();
      } else if (appPage) {
        await swap(appPage, appPage.dataset.body);
      }
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        refresh(null);
      }
    }
  }

  if (fleet) {
    for (const id of ["filter-text", "filter-sync", "filter-health"]) {
      document.getElementById(id).addEventListener("input", applyFilters);
    }
    applyFilters();
  }

  // "copy ignore rule": the rule's text, as rendered (and escaped) by the server.
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const rule = button.parentElement.querySelector("pre.rule");
      try {
        await navigator.clipboard.writeText(rule.textContent);
        button.textContent = "copied";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(rule);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "selected: copy it";
      }
    });
  }

  if (!fleet && !appPage) {
    setLive("", false); // a diff is a compare made on request: nothing streams here
  } else {
    const events = new EventSource("/api/v1/stream");
    events.addEventListener("open", () => {
      setLive("live", true);
      refresh(null); // anything that changed while disconnected
    });
    events.addEventListener("error", () => setLive("reconnecting…", false));
    events.addEventListener("app", (event) => {
      const change = JSON.parse(event.data);
      refresh(change.namespace + "/" + change.name);
    });
  }
})();
