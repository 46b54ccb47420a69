// The console's only script: live counts on the overview, reloading a running execution, and
// dropping a file onto the upload form.
// It writes text with textContent only, never HTML, so data can never become markup.
"use strict";

function valueAt(data, path) {
  return path.split(".").reduce((node, part) => (node == null ? undefined : node[part]), data);
}

function pollOverview(section) {
  const url = section.dataset.poll;
  const every = Number(section.dataset.every) || 2000;
  const last = {};
  async function refresh() {
    try {
      const reply = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!reply.ok) return;
      const data = await reply.json();
      const now = Date.now();
      section.querySelectorAll("[data-field]").forEach((node) => {
        const value = valueAt(data, node.dataset.field);
        const number = value == null ? 0 : value;
        node.textContent = typeof number === "number" ? number.toLocaleString() : String(number);
        if (node.dataset.rate) {
          const previous = last[node.dataset.rate];
          const target = document.getElementById(node.dataset.rate);
          if (previous && target) {
            const rate = (number - previous.value) / ((now - previous.at) / 1000);
            target.textContent = rate >= 0 ? rate.toFixed(1) : "–";
          }
          last[node.dataset.rate] = { value: number, at: now };
        }
      });
      const stamp = section.querySelector("[data-updated]");
      if (stamp) stamp.textContent = new Date(now).toLocaleTimeString();
    } catch (error) {
      // The server may be restarting: keep the last numbers and try again at the next tick.
    }
  }
  refresh();
  setInterval(refresh, every);
}

// A file dropped anywhere on the form becomes the form's file, named after it (a key ending
// in "/" keeps the name), and the form is sent: the same request as choosing and clicking.
function acceptDrops(form) {
  const input = form.querySelector('input[type="file"]');
  form.addEventListener("dragover", (event) => {
    event.preventDefault();
    form.classList.add("dropping");
  });
  form.addEventListener("dragleave", () => form.classList.remove("dropping"));
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("dropping");
    if (!event.dataTransfer || event.dataTransfer.files.length !== 1) return;
    input.files = event.dataTransfer.files;
    form.requestSubmit();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const upload = document.getElementById("upload-form");
  if (upload) acceptDrops(upload);
  const overview = document.querySelector("[data-poll]");
  if (overview) pollOverview(overview);
  const running = document.querySelector("[data-reload-every]");
  if (running) setTimeout(() => window.location.reload(), Number(running.dataset.reloadEvery) || 2000);
});
