// Live preview for the backup settings form: no framework, no build step, no inline script.
// The form works without this file; it adds the next runs as the admin types and keeps Save
// disabled while the server says a value is invalid.
(function () {
  "use strict";
  var form = document.getElementById("settings");
  if (!form) { return; }
  var zone = form.getAttribute("data-zone");
  var url = form.getAttribute("data-preview");
  var save = document.getElementById("save");
  var fields = ["enabled", "schedule", "expiresInDays", "timeZone"];
  var timer = null;
  var sequence = 0;

  function values() {
    var days = form.elements.expiresInDays.value.trim();
    return {
      enabled: form.elements.enabled.checked,
      schedule: form.elements.schedule.value,
      expiresInDays: /^[0-9]{1,12}$/.test(days) ? Number(days) : days,
      timeZone: zone
    };
  }

  function fillList(id, items) {
    var list = document.getElementById(id);
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
  }

  function show(data) {
    fields.forEach(function (name) {
      var box = document.getElementById(name + "-error");
      if (box) { box.textContent = ""; }
      var input = form.elements[name];
      if (input && input.removeAttribute) { input.removeAttribute("aria-invalid"); }
    });
    data.errors.forEach(function (error) {
      var box = document.getElementById(error.field + "-error") || document.getElementById("schedule-error");
      box.textContent = box.textContent ? box.textContent + " " + error.message : error.message;
      var input = form.elements[error.field];
      if (input && input.setAttribute) { input.setAttribute("aria-invalid", "true"); }
    });
    document.getElementById("schedule-text").textContent = data.scheduleText || "";
    fillList("next-runs", data.nextRunsText);
    fillList("warnings", data.warnings);
    document.getElementById("kept-hours").textContent =
      data.expiresInHours === null ? "" : "kept " + data.expiresInHours + " hours";
    save.disabled = !data.valid;
  }

  function preview() {
    var mine = ++sequence;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(values())
    }).then(function (response) {
      return response.json();
    }).then(function (data) {
      if (mine === sequence && data.errors) { show(data); }
    }).catch(function () { /* the server validates again on Save */ });
  }

  function soon() {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(preview, 120);
  }

  form.elements.schedule.addEventListener("input", soon);
  form.elements.expiresInDays.addEventListener("input", soon);
  form.elements.enabled.addEventListener("change", soon);
  preview();  // Save reflects the values shown, also when the committed ones are invalid
  form.setAttribute("data-ready", "true");
}());
