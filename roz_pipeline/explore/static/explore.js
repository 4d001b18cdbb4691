// The camera page: drag a rectangle on the heatmap (or pick a named region) to ask when something moved there.
// The question goes into the page's URL, so the address can be shared and answers the same when opened.

const picture = document.getElementById("picture");
const image = document.getElementById("heatmap");
const selection = document.getElementById("selection");
const LEGEND_HEIGHT = 30;  // the colour legend under the picture (core/render.py)
const { camera, from, to } = picture.dataset;
const sourceWidth = Number(picture.dataset.sourceWidth), sourceHeight = Number(picture.dataset.sourceHeight);

function pictureHeight() {
  return image.clientHeight * (image.naturalHeight - LEGEND_HEIGHT) / image.naturalHeight;
}

const cell = Number(picture.dataset.cell);  // source pixels per cell: a rectangle on the grid reads the minutes' cells

function toSource(box) {
  // The drawn box in source pixels, grown to the cell grid's lines (or the picture's edge).
  const sx = sourceWidth / image.clientWidth, sy = sourceHeight / pictureHeight();
  const down = (value) => Math.max(Math.floor(value / cell) * cell, 0);
  const up = (value, limit) => Math.min(Math.ceil(value / cell) * cell, limit);
  return [down(box.x0 * sx), down(box.y0 * sy), up(box.x1 * sx, sourceWidth), up(box.y1 * sy, sourceHeight)];
}

function toDisplay([x0, y0, x1, y1]) {
  const sx = image.clientWidth / sourceWidth, sy = pictureHeight() / sourceHeight;
  return { x0: x0 * sx, y0: y0 * sy, x1: x1 * sx, y1: y1 * sy };
}

function showBox(box) {
  Object.assign(selection.style, { left: `${box.x0}px`, top: `${box.y0}px`,
                                   width: `${box.x1 - box.x0}px`, height: `${box.y1 - box.y0}px` });
  selection.hidden = false;
}

function minuteQuery(minute) {
  const start = new Date(minute), end = new Date(start.getTime() + 60000);
  const text = (moment) => moment.toISOString().slice(0, 16);
  return `from=${text(start)}&to=${text(end)}`;
}

const ACTIVITY = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });  // 31,800.5, never 3.18e+04
const COUNT = new Intl.NumberFormat("en-US");  // 1,440

async function ask(region) {
  const query = new URLSearchParams({ from, to, region });
  history.replaceState(null, "", `?${query}`);
  const response = await fetch(`/cameras/${camera}/when?${query}`, { headers: { Accept: "application/json" } });
  const answer = await response.json();
  const list = document.getElementById("intervals");
  list.replaceChildren();
  document.getElementById("answer").hidden = false;
  const corners = ([x0, y0, x1, y1]) => `(${x0},${y0})-(${x1},${y1})`;
  const named = response.ok && answer.region !== answer.rectangle.join(",");
  document.getElementById("asked").textContent =
    !response.ok ? region : named ? `${answer.region} ${corners(answer.rectangle)}` : corners(answer.rectangle);
  if (!response.ok) {
    list.insertAdjacentHTML("beforeend", `<li class="error"></li>`);
    list.lastChild.textContent = answer.error;
    return;
  }
  for (const found of answer.intervals) {
    const item = document.createElement("li");
    item.className = "interval";
    item.dataset.start = found.start;
    item.dataset.end = found.end;
    item.textContent = `${found.start.slice(0, 16).replace("T", " ")} – ${found.end.slice(11, 16)} UTC, ` +
                       `${COUNT.format(found.minutes)} min, activity ${ACTIVITY.format(found.activity)} `;
    const peak = document.createElement("img");
    peak.className = "peak";
    peak.alt = `the peak minute ${found.peak_minute.slice(11, 16)}`;
    peak.src = `/cameras/${camera}/heatmap.png?${minuteQuery(found.peak_minute)}`;
    item.append(peak);
    if (found.open) {
      const link = document.createElement("a");
      link.className = "clip";
      const offset = found.open.offset_seconds === null ? "" : `#t=${Math.floor(found.open.offset_seconds)}`;
      link.href = `/cameras/${camera}/clip?key=${encodeURIComponent(found.open.clip)}${offset}`;
      link.textContent = `watch ${found.open.clip}`;
      item.append(link);
    }
    list.append(item);
  }
  if (!answer.intervals.length) list.insertAdjacentHTML("beforeend", "<li>nothing moved there</li>");
  const more = answer.interval_count - answer.intervals.length;
  if (more > 0) {
    list.insertAdjacentHTML("beforeend", `<li class="more"></li>`);
    list.lastChild.textContent = `and ${COUNT.format(more)} quieter interval(s): ask about a shorter period to see them`;
  }
}

let start = null;
image.addEventListener("mousedown", (event) => {
  event.preventDefault();
  start = { x: event.offsetX, y: event.offsetY };
});
image.addEventListener("mousemove", (event) => {
  if (start) showBox(normalised(start, { x: event.offsetX, y: event.offsetY }));
});
image.addEventListener("mouseup", (event) => {
  if (!start) return;
  const box = normalised(start, { x: event.offsetX, y: Math.min(event.offsetY, pictureHeight()) });
  start = null;
  if (box.x1 - box.x0 < 2 || box.y1 - box.y0 < 2) return;
  const asked = toSource(box);
  showBox(toDisplay(asked));
  ask(asked.join(","));
});
for (const button of document.querySelectorAll(".named-region")) {
  button.addEventListener("click", () => ask(button.dataset.region));
}

function normalised(a, b) {
  return { x0: Math.min(a.x, b.x), y0: Math.min(a.y, b.y), x1: Math.max(a.x, b.x), y1: Math.max(a.y, b.y) };
}

if (picture.dataset.region) ask(picture.dataset.region);
