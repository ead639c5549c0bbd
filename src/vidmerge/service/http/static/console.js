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
})();
