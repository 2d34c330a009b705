// hookhost portal: the little the pages need beyond htmx. Live call rows (server-sent
// events) and component upload (drag and drop, or a chosen file). Same origin only.
(function () {
  "use strict";

  function rows(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return Array.from(template.content.children);
  }

  // New calls stream in at the top of an unfiltered call log.
  function live(tbody) {
    const source = new EventSource(tbody.dataset.live);
    source.addEventListener("calls", function (event) {
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      const fresh = rows(event.data).filter(function (row) {
        return !document.getElementById(row.id);
      });
      fresh.reverse().forEach(function (row) {
        row.classList.add("fresh");
        tbody.insertBefore(row, tbody.firstChild);
        if (window.htmx) window.htmx.process(row);
      });
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // Upload: the raw .wasm to the portal, which hands it to the components API.
  function upload(form) {
    const input = form.querySelector("input[type=file]");
    const drop = form.querySelector(".drop");
    const label = drop.querySelector("span");
    const result = document.getElementById("upload-result");
    let dropped = null;
    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (event) {
        event.preventDefault();
        drop.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer.files.length) {
        dropped = event.dataTransfer.files[0];
        input.required = false;
        label.textContent = dropped.name;
      }
    });
    input.addEventListener("change", function () {
      dropped = null;
      if (input.files.length) label.textContent = input.files[0].name;
    });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const file = dropped || input.files[0];
      if (!file) return;
      const query = new URLSearchParams({
        name: form.elements.name.value,
        version: form.elements.version.value,
      });
      const answer = await fetch(form.dataset.upload + "?" + query, {
        method: "POST",
        headers: { "content-type": "application/wasm", "hx-request": "true" },
        body: file,
      });
      result.innerHTML = await answer.text();
      if (answer.ok) {
        const table = await fetch(form.dataset.upload + "/table", { headers: { "hx-request": "true" } });
        document.getElementById("components").outerHTML = await table.text();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("tbody[data-live]").forEach(live);
    document.querySelectorAll("form[data-upload]").forEach(upload);
  });
})();
