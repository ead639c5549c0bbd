/* vidmerge console: drag and drop upload, refreshing while versions prepare, the preview video. */
(function () {
  "use strict";

  var drop = document.getElementById("upload");
  if (drop) {
    var input = drop.querySelector("input[type=file]");
    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function () { drop.classList.remove("dragging"); });
    });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      input.files = e.dataTransfer.files;
      drop.submit();
    });
  }

  // slot boxes over the storyboard's frames, in percentages (set here: the CSP allows no inline style)
  Array.prototype.forEach.call(document.querySelectorAll("[data-box]"), function (box) {
    var v = box.getAttribute("data-box").split(" ");
    box.style.left = v[0] + "%";
    box.style.top = v[1] + "%";
    box.style.width = v[2] + "%";
    box.style.height = v[3] + "%";
  });

  var list = document.querySelector("[data-refresh]");
  if (list) {
    setTimeout(function () { window.location.reload(); }, 1000 * Number(list.getAttribute("data-refresh")));
  }

  var rendered = document.getElementById("rendered");
  if (rendered) {
    var video = document.getElementById("preview-video");
    var status = rendered.querySelector(".status");
    var poll = function () {
      fetch(rendered.getAttribute("data-status-url"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.status === "done") {
            status.hidden = true;
            video.src = rendered.getAttribute("data-video");
            video.hidden = false;
          } else if (body.status === "failed") {
            status.textContent = "failed";
          } else {
            setTimeout(poll, 1000);
          }
        });
    };
    poll();
  }

  // a campaign's CSV: its columns read here (UTF-8, else Shift_JIS), each mapped to an input
  var campaign = document.getElementById("campaign-upload");
  if (campaign) {
    var inputs = JSON.parse(campaign.getAttribute("data-inputs") || "{}");
    var csv = document.getElementById("csv");
    var chooser = document.getElementById("template_id");
    var box = document.getElementById("columns");
    var header = [];
    var columns = function () {
      var grid = box.querySelector(".grid");
      grid.textContent = "";
      var targets = ["external_id"].concat(inputs[chooser.value] || []);
      header.forEach(function (name, n) {
        var label = document.createElement("label");
        label.htmlFor = "col-" + n;
        label.textContent = name;
        var select = document.createElement("select");
        select.id = "col-" + n;
        select.setAttribute("data-column", name);
        [""].concat(targets).forEach(function (target) {
          var option = document.createElement("option");
          option.value = target;
          option.textContent = target || "—";
          if (target === name) option.selected = true;
          select.appendChild(option);
        });
        grid.appendChild(label);
        grid.appendChild(select);
      });
      box.hidden = !header.length;
    };
    var readHeader = function (file) {
      file.slice(0, 65536).arrayBuffer().then(function (bytes) {
        var text;
        try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); }
        catch (e) { text = new TextDecoder("shift_jis").decode(bytes); }
        var line = text.replace(/^\ufeff/, "").split(/\r?\n/)[0];
        header = line.split(",").map(function (c) { return c.replace(/^"|"$/g, "").trim(); }).filter(Boolean);
        columns();
      });
    };
    csv.addEventListener("change", function () { if (csv.files.length) readHeader(csv.files[0]); });
    chooser.addEventListener("change", columns);
    campaign.addEventListener("submit", function () {
      var mapping = {};
      Array.prototype.forEach.call(box.querySelectorAll("select"), function (select) {
        var column = select.getAttribute("data-column");
        if (select.value && select.value !== column) mapping[column] = select.value;
      });
      document.getElementById("mapping").value = Object.keys(mapping).length ? JSON.stringify(mapping) : "";
    });
  }

  // a campaign's progress, live
  var progress = document.getElementById("progress");
  if (progress) {
    var tick = function () {
      fetch(progress.getAttribute("data-url"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          document.getElementById("p-done").textContent = p.done;
          document.getElementById("p-total").textContent = p.total;
          document.getElementById("p-failed").textContent = p.failed;
          var bar = document.getElementById("p-bar");
          bar.max = p.total || 1;
          bar.value = p.done + p.failed;
          document.getElementById("p-eta").textContent = p.eta_seconds ? "· ~" + Math.round(p.eta_seconds) + " s" : "";
          progress.setAttribute("data-status", p.status);
          document.getElementById("p-status").textContent = progress.getAttribute("data-" + p.status) || p.status;
          var start = document.getElementById("start");
          if (start && p.status !== "created") start.hidden = true;
          if (p.status !== "done") setTimeout(tick, 1000);
        });
    };
    tick();
  }
})();
