// The dashboard (/dashboard): the expertise map with its silos and fragile topics,
// the knowledge-gap queue and the analytics over time, for administrators.
// It reads GET /v1/insights/topics, /v1/insights/gaps and /v1/analytics/series with
// an administrator's key (kept in this tab's sessionStorage, under the same name as
// the search component's, so one key entered once serves both pages).
// No framework, no build step, nothing loaded from anywhere but the service.

const SERVICE = new URL("..", import.meta.url).href.replace(/\/+$/, "");
const STORED = `whoknows-key:${SERVICE}`;
const $ = (id) => document.getElementById(id);
const percent = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
const number = (x) => (x == null ? "–" : x.toLocaleString("en"));
const decimal = (x) => (x == null ? "–" : x.toFixed(2));

// What each chart shows: [title, value of a point, format, what it means].
const CHARTS = [
  ["Questions asked", (p) => p.queries, number, "recommendations made"],
  ["Click-through", (p) => (p.queries ? p.click_through_rate : null), percent, "answers with a click, helpful or contact"],
  ["Found helpful", (p) => p.helpful_rate, percent, "helpful among rated items"],
  ["Cross-functional reach", (p) => (p.cross_functional.recommended_known ? p.cross_functional.recommended_share : null), percent,
    "colleagues recommended from another department than the asker's"],
  ["Expert load (Gini)", (p) => (p.queries ? p.load.gini : null), decimal, "0: everyone asked alike; towards 1: a few take all"],
  ["Coverage", (p) => (p.queries ? p.coverage : null), percent, "people recommended at least once"],
  ["Knowledge gaps", (p) => (p.queries ? p.knowledge_gaps.share : null), percent, "questions without a good resource"],
];

function key() {
  try { return sessionStorage.getItem(STORED); } catch { return null; }
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

class Refused extends Error {
  constructor(status, message, wait) { super(message); this.status = status; this.wait = wait; }
}

async function get(path, params = {}) {
  const url = new URL(`${SERVICE}${path}`);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  let response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${key()}`, Accept: "application/json" } });
  } catch {
    throw new Refused(0, "The service cannot be reached: check the network and that whoknows is running.");
  }
  if (response.ok) return response.json();
  let detail = "";
  try { detail = (await response.json()).detail || ""; } catch { /* not JSON */ }
  const wait = response.headers.get("Retry-After");
  const words = {
    401: "This key is not accepted: enter an administrator's key.",
    403: "This key is not an administrator's: the dashboard needs one (whoknows keys create --admin).",
    429: `Too many requests: try again in ${wait || "a few"} seconds.`,
    503: wait ? `The service is not ready yet (${detail || "loading"}); this page asks again in ${wait} seconds.`
      : `Not available: ${detail || "the service cannot answer this"}.`,
  };
  throw new Refused(response.status, words[response.status] || `The service answered ${response.status}: ${detail}`, wait);
}

function chart([title, value, format, meaning], points, step) {
  const values = points.map(value);
  const known = values.filter((v) => v != null);
  const last = known.length ? known[known.length - 1] : null;
  const figure = element("figure", { class: "chart" });
  const caption = element("figcaption");
  caption.append(element("h3", { text: title }),
    element("p", { class: "value", text: format(last) }, element("span", { class: "meta", text: ` last ${step} with data` })),
    element("p", { class: "meta", text: meaning }));
  figure.append(caption);
  if (!known.length) {
    figure.append(element("p", { class: "empty", text: "Nothing to show in this period." }));
    return figure;
  }
  const width = 300, height = 96, pad = 6;
  const top = Math.max(...known, 0) || 1;
  const x = (i) => pad + (points.length > 1 ? (i * (width - 2 * pad)) / (points.length - 1) : (width - 2 * pad) / 2);
  const y = (v) => height - pad - (v / top) * (height - 2 * pad);
  const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", "aria-hidden": "true" });
  drawing.append(svg("line", { x1: pad, x2: width - pad, y1: height - pad, y2: height - pad, stroke: "#8a949e", "stroke-width": 1 }));
  let path = "";
  values.forEach((v, i) => {
    if (v == null) return;
    path += `${path && values[i - 1] != null ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
  });
  drawing.append(svg("path", { d: path, fill: "none", stroke: "#0a58a8", "stroke-width": 2.5, "vector-effect": "non-scaling-stroke" }));
  values.forEach((v, i) => {
    if (v != null) drawing.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, fill: "#0a58a8" }));
  });
  figure.append(drawing);
  figure.append(element("div", { class: "axis" },
    element("span", { text: points.length ? points[0].start.slice(0, 10) : "" }),
    element("span", { text: `max ${format(top)}` }),
    element("span", { text: points.length ? points[points.length - 1].start.slice(0, 10) : "" })));
  const table = element("table");
  table.append(element("thead", {}, element("tr", {}, element("th", { text: "From" }), element("th", { text: title }))));
  const body = element("tbody");
  points.forEach((p, i) => body.append(element("tr", {}, element("td", { text: p.start.slice(0, 16).replace("T", " ") }),
    element("td", { text: format(values[i]) }))));
  table.append(body);
  figure.append(element("details", {}, element("summary", { text: "The numbers" }), table));
  return figure;
}

function heatCell(share) {
  // White to the accent blue, at most 60% of the way, so dark text keeps 4.5:1 contrast.
  const t = Math.max(0, Math.min(1, share)) * 0.6;
  const mix = (a, b) => Math.round(a + (b - a) * t);
  const cell = element("td", { class: "heat", text: share > 0 ? percent(share) : "" });
  cell.style.background = `rgb(${mix(255, 10)}, ${mix(255, 88)}, ${mix(255, 168)})`;
  if (!(share > 0)) cell.append(element("span", { class: "visually-hidden", text: "none" }));
  return cell;
}

function flags(topic) {
  const out = [];
  if (topic.silo) out.push(element("span", { class: "flag silo", text: `Silo: ${topic.silo}` }));
  if (topic.fragile) out.push(element("span", { class: "flag fragile", text: "Fragile" }));
  return out;
}

function experts(topic, count = 3) {
  return topic.experts.slice(0, count).map((e) => `${e.name}${e.department ? ` (${e.department})` : ""}`).join(", ");
}

function showMap(map) {
  const table = $("heat");
  table.replaceChildren();
  const head = element("tr", {}, element("th", { scope: "col", text: "Topic" }),
    element("th", { scope: "col", text: "Documents" }));
  map.departments.forEach((d) => head.append(element("th", { scope: "col", text: d })));
  head.append(element("th", { scope: "col", text: "Bus factor" }), element("th", { scope: "col", text: "Flags" }),
    element("th", { scope: "col", text: "Strongest experts" }));
  table.append(element("caption", { class: "visually-hidden", text: "Share of each topic's expertise held by each department" }),
    element("thead", {}, head));
  const body = element("tbody");
  map.topics.forEach((topic, i) => {
    const row = element("tr", {}, element("th", { scope: "row", text: topic.label }), element("td", { text: number(topic.documents) }));
    map.departments.forEach((_, d) => row.append(heatCell(map.heat[d][i])));
    row.append(element("td", { text: String(topic.bus_factor) }), element("td", {}, ...flags(topic)),
      element("td", { text: experts(topic) }));
    body.append(row);
  });
  table.append(body);
  $("map-summary").textContent = `${map.topics.length} topics over ${number(map.documents)} documents; `
    + `${map.silos.length} silos, ${map.fragile.length} fragile.`;
  for (const [section, list, ids] of [["silos", "silo-list", map.silos], ["fragile", "fragile-list", map.fragile]]) {
    const items = map.topics.filter((t) => ids.includes(t.id)).map((t) => element("li", {},
      element("div", { class: "title", text: t.label }),
      element("div", { class: "meta", text: `${number(t.documents)} documents · bus factor ${t.bus_factor}` }),
      element("div", {}, ...flags(t)),
      element("div", { text: `Experts: ${experts(t) || "none active"}` })));
    $(list).replaceChildren(...(items.length ? items : [element("li", { text: "None." })]));
    $(section).hidden = false;
  }
  $("map").hidden = false;
}

function showGaps(queue) {
  const table = $("gap-table");
  const head = element("tr");
  for (const name of ["Question", "Times asked", "Last asked", "Asked from", "Why"]) head.append(element("th", { scope: "col", text: name }));
  const body = element("tbody");
  for (const entry of queue.entries) {
    body.append(element("tr", {}, element("td", { text: entry.query }), element("td", { text: String(entry.asked) }),
      element("td", { text: entry.last_asked.slice(0, 16).replace("T", " ") }),
      element("td", { text: entry.departments.join(", ") || "–" }), element("td", { text: entry.reasons.join("; ") })));
  }
  if (!queue.entries.length) body.append(element("tr", {}, element("td", { colspan: "5", text: "No gaps in this period." })));
  table.replaceChildren(element("thead", {}, head), body);
  $("gaps").hidden = false;
}

function showSeries(series) {
  $("charts").replaceChildren(...CHARTS.map((c) => chart(c, series.points, series.step)));
  $("usage").hidden = false;
}

async function load() {
  const days = Number($("days").value);
  const step = days > 90 && $("step").value === "day" ? "week" : $("step").value;
  const now = new Date();
  const from = new Date(now.getTime() - days * 86400000);
  $("error").hidden = true;
  $("status").textContent = "Loading…";
  const period = { from: from.toISOString(), to: now.toISOString() };
  const parts = [
    get("/v1/insights/topics").then(showMap),
    get("/v1/insights/gaps", period).then(showGaps),
    get("/v1/analytics/series", { ...period, step }).then(showSeries),
  ];
  const results = await Promise.allSettled(parts);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  if (failed.some((e) => e.status === 401 || e.status === 403)) {
    try { sessionStorage.removeItem(STORED); } catch { /* nothing kept */ }
    askForKey(failed.find((e) => e.status === 401 || e.status === 403).message);
    return;
  }
  $("window").hidden = false;
  if (failed.length) {
    $("error").textContent = [...new Set(failed.map((e) => e.message))].join(" ");
    $("error").hidden = false;
    // Only what the service says will pass (503 with Retry-After) is asked again.
    const wait = failed.find((e) => e.status === 503 && e.wait);
    if (wait) setTimeout(load, 1000 * Number(wait.wait));
  }
  $("status").textContent = failed.length ? "" : `Updated ${now.toLocaleTimeString("en-GB")}.`;
}

function askForKey(message) {
  $("key").hidden = false;
  $("window").hidden = true;
  for (const id of ["usage", "map", "silos", "fragile", "gaps"]) $(id).hidden = true;
  $("status").textContent = "";
  if (message) { $("error").textContent = message; $("error").hidden = false; }
  $("key-input").focus();
}

$("key").addEventListener("submit", (event) => {
  event.preventDefault();
  try { sessionStorage.setItem(STORED, $("key-input").value.trim()); } catch { /* private mode */ }
  $("key-input").value = "";
  $("key").hidden = true;
  load();
});
$("days").addEventListener("change", load);
$("step").addEventListener("change", load);

if (key()) load(); else askForKey();
