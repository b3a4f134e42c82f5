// The page's whole logic: one EventSource, one grid. Each event carries the
// cells that changed (all of them on the first event of a connection) and
// the totals; the browser reconnects by itself after a dropped connection,
// and the server then sends everything again.
"use strict";
const grid = document.getElementById("grid");
const status = document.getElementById("status");
const cells = [];
let frames = 0;

function cellFor(i) {
  while (cells.length <= i) {
    const el = document.createElement("div");
    el.className = "cell";
    el.dataset.index = cells.length;
    grid.appendChild(el);
    cells.push(el);
  }
  return cells[i];
}

function show(i, c) {
  const el = cellFor(i);
  el.className = "cell " + c.state;
  el.dataset.state = c.state;
  el.dataset.pid = c.pid;
  el.innerHTML = "<b>worker-" + (i + 1) + "</b>" + c.state + "<br>pid " + (c.pid || "–") + "<br>" + c.done + " done";
}

const events = new EventSource("events");
events.onmessage = (e) => {
  const f = JSON.parse(e.data);
  if (f.full) {
    while (cells.length > f.workers) grid.removeChild(cells.pop());
  }
  for (const [i, c] of Object.entries(f.cells)) show(Number(i), c);
  frames++;
  status.className = "";
  status.textContent = f.workers + " workers · " + f.done + " tasks done, " + f.failed + " failed, " +
    f.queued + " queued · update " + f.seq + (f.full ? " (full)" : "");
  status.dataset.frames = frames;
  status.dataset.seq = f.seq;
};
events.onerror = () => {
  status.className = "down";
  status.textContent = "disconnected; reconnecting…";
};

async function post(path, body) {
  const answer = document.getElementById("answer");
  try {
    const r = await fetch(path, { method: "POST", body: new URLSearchParams(body || {}) });
    answer.textContent = (await r.text()).trim();
  } catch (err) {
    answer.textContent = String(err);
  }
}
document.getElementById("submit").onclick = () => post("submit", { n: document.getElementById("n").value });
document.getElementById("kill").onclick = () => post("kill");
document.getElementById("stop").onclick = () => post("stop");
