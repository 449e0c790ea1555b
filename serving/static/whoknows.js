// <whoknows-search>: what to read and who knows about it, for any page.
//
//   <script type="module" src="https://whoknows.example.org/static/whoknows.js"></script>
//   <whoknows-search api="https://whoknows.example.org" limit="5"
//                    department="Data" types="wiki,course" api-key="wk_..."></whoknows-search>
//
// Attributes: api (base URL; default: the service this script came from), limit (1-50),
// department, types (comma-separated), cross-functional (start with "prefer other
// departments" ticked), api-key (a key restricted to the page's origin), key-prompt
// (ask for a key when the service refuses the call).
// Property: token (a JWT from the host's back end; set it again to refresh it).
// Events (bubbling, composed): whoknows-results, whoknows-feedback, whoknows-profile,
// whoknows-error; each detail holds what happened.
// Theme: --whoknows-font, --whoknows-fg, --whoknows-muted, --whoknows-bg,
// --whoknows-surface, --whoknows-border, --whoknows-accent, --whoknows-accent-fg,
// --whoknows-radius, --whoknows-gap.
// No framework, no build step, no request to any host but `api`.

// The service this script came from (it lives at <service>/static/whoknows.js).
const SERVICE = new URL("..", import.meta.url).href.replace(/\/+$/, "");
const TYPES = {
  document: "Document", wiki: "Wiki page", report: "Report",
  "best-practice": "Best practice", "case-study": "Case study", course: "Course",
};
// A person's role in a document: as a sentence (evidence) and as a label (profile).
const ROLES = {
  author: ["Wrote", "Author"], accepted_answer: ["Gave the accepted answer to", "Accepted answer"],
  answered: ["Answered", "Answer"], asked: ["Asked", "Question"],
};
const role = (name, form) => (ROLES[name] ? ROLES[name][form] : name.replace(/_/g, " "));
const SIGNALS = {
  documents: "their documents match", writing: "everything they wrote matches",
  profile: "their profile matches", activity: "recently active here", topics: "works on these topics",
  cross_functional: "brings another department's view",
};
const RETRIEVERS = { dense: "meaning", lexical: "words" };
const REASONS = {
  dense: "its meaning matches", first_passage: "its opening matches", lexical: "it shares your words",
  title_lexical: "its title matches", rrf: "both searches rank it high", feedback: "it is like the best matches",
};
const FEEDBACK = { helpful: "Helpful", not_helpful: "Not helpful", contacted: "Contacted" };

const CSS = `
:host { display: block; font: 1rem/1.5 var(--whoknows-font, system-ui, -apple-system, "Segoe UI", sans-serif);
  color: var(--whoknows-fg, #1b1f24); --wk-muted: var(--whoknows-muted, #525a63);
  --wk-bg: var(--whoknows-bg, #ffffff); --wk-surface: var(--whoknows-surface, #f5f7f9);
  --wk-border: var(--whoknows-border, #c9d1d9); --wk-accent: var(--whoknows-accent, #0a58a8);
  --wk-accent-fg: var(--whoknows-accent-fg, #ffffff); --wk-radius: var(--whoknows-radius, 8px);
  --wk-gap: var(--whoknows-gap, 1rem); background: var(--wk-bg); }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: var(--wk-gap); }
.ask { flex: 1 1 18rem; display: flex; flex-direction: column; }
label, legend { font-weight: 600; font-size: .875rem; }
input[type=search], select, input[type=password] { font: inherit; color: inherit; background: var(--wk-bg);
  border: 1px solid var(--wk-border); border-radius: var(--wk-radius); padding: .5rem .75rem; min-height: 2.75rem; }
.filter { display: flex; flex-direction: column; flex: 0 1 14rem; min-width: 10rem; }
button { font: inherit; cursor: pointer; border-radius: var(--wk-radius); min-height: 2.75rem; padding: .375rem .875rem;
  border: 1px solid var(--wk-accent); background: var(--wk-bg); color: var(--wk-accent); }
button.primary { background: var(--wk-accent); color: var(--wk-accent-fg); font-weight: 600; }
button[aria-pressed=true] { background: var(--wk-accent); color: var(--wk-accent-fg); }
button.link { border: 0; padding: 0; min-height: 0; background: none; color: var(--wk-accent); text-decoration: underline;
  font-weight: 600; text-align: left; }
:focus-visible { outline: 3px solid var(--wk-accent); outline-offset: 2px; }
fieldset { border: 0; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: .25rem .75rem; flex-basis: 100%;
  align-items: center; }
legend { float: left; margin-right: .25rem; }
label.across { font-weight: 400; display: inline-flex; gap: .375rem; align-items: center; min-height: 2rem; flex-basis: 100%; }
fieldset label { font-weight: 400; display: inline-flex; gap: .25rem; align-items: center; min-height: 2rem; }
input[type=checkbox] { width: 1.125rem; height: 1.125rem; accent-color: var(--wk-accent); }
.status { color: var(--wk-muted); min-height: 1.5em; margin: 0 0 .5rem; }
.error { color: #a40e26; background: #fff0f1; border: 1px solid #d0364c; border-radius: var(--wk-radius);
  padding: .75rem 1rem; margin: 0 0 var(--wk-gap); }
.columns { display: grid; gap: var(--wk-gap); grid-template-columns: repeat(auto-fit, minmax(min(100%, 22rem), 1fr)); }
h2 { font-size: 1.125rem; margin: 0 0 .5rem; }
ol { list-style: none; padding: 0; margin: 0; display: grid; gap: .75rem; }
li.card { background: var(--wk-surface); border: 1px solid var(--wk-border); border-radius: var(--wk-radius); padding: .75rem 1rem; }
.title { font-weight: 600; font-size: 1.0625rem; overflow-wrap: anywhere; }
a { color: var(--wk-accent); }
.meta { color: var(--wk-muted); font-size: .875rem; }
.snippet { margin: .375rem 0; overflow-wrap: anywhere; }
details { margin: .25rem 0; font-size: .9375rem; }
summary { cursor: pointer; color: var(--wk-accent); font-weight: 600; min-height: 1.75rem; }
blockquote { margin: .375rem 0; padding: .25rem .75rem; border-left: 3px solid var(--wk-border); white-space: pre-line;
  overflow-wrap: anywhere; max-height: 16rem; overflow: auto; }
ul.evidence { margin: .375rem 0; padding-left: 1.25rem; }
.actions { display: flex; flex-wrap: wrap; gap: .375rem; margin-top: .5rem; }
.actions button { font-size: .875rem; min-height: 2.25rem; padding: .25rem .625rem; }
dialog { border: 1px solid var(--wk-border); border-radius: var(--wk-radius); padding: 1.25rem; width: min(40rem, 94vw);
  max-height: 88vh; color: inherit; background: var(--wk-bg); }
dialog::backdrop { background: rgb(0 0 0 / .45); }
dialog header { display: flex; justify-content: space-between; gap: 1rem; align-items: start; }
dialog h2 { font-size: 1.25rem; }
.key { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: 0 0 var(--wk-gap); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

const sheet = new CSSStyleSheet();
sheet.replaceSync(CSS);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && !key.startsWith("aria") && key !== "role") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

export class WhoknowsError extends Error {
  constructor(message, status, detail) { super(message); this.status = status; this.detail = detail; }
}

export class WhoknowsSearch extends HTMLElement {
  static get observedAttributes() { return ["api", "limit", "department", "types", "cross-functional", "api-key"]; }

  #token = null;
  #answer = null;
  #opener = null;
  #busy = 0;

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.adoptedStyleSheets = [sheet];
    this.idPrefix = `wk${Math.random().toString(36).slice(2, 8)}`;
    const id = (name) => `${this.idPrefix}-${name}`;
    this.input = el("input", { type: "search", id: id("q"), name: "q", required: true, autocomplete: "off",
      placeholder: "Ask a question, e.g. how do I rotate a certificate?", maxLength: 2000 });
    this.department = el("select", { id: id("dept"), name: "department" }, el("option", { value: "" }, "All departments"));
    this.types = el("fieldset", {}, el("legend", {}, "Only these types:"));
    this.across = el("input", { type: "checkbox", id: id("across"), name: "cross_functional" });
    const across = el("label", { className: "across", htmlFor: id("across") }, this.across,
      "Prefer colleagues from other departments");
    this.form = el("form", { role: "search", onsubmit: (e) => { e.preventDefault(); this.search(); } },
      el("div", { className: "ask" }, el("label", { htmlFor: id("q") }, "What do you want to know?"), this.input),
      el("div", { className: "filter" }, el("label", { htmlFor: id("dept") }, "Department"), this.department),
      el("button", { type: "submit", className: "primary" }, "Search"),
      this.types, across);
    this.status = el("p", { className: "status", role: "status", "aria-live": "polite" });
    this.error = el("div", { className: "error", role: "alert", hidden: true });
    this.keyBox = el("form", { className: "key", hidden: true, onsubmit: (e) => { e.preventDefault(); this.#saveKey(); } },
      el("div", { className: "ask" }, el("label", { htmlFor: id("key") }, "Your whoknows API key"),
        el("input", { type: "password", id: id("key"), autocomplete: "off", required: true })),
      el("button", { type: "submit", className: "primary" }, "Use this key"));
    this.results = el("div", { className: "columns", hidden: true });
    this.dialog = el("dialog", { "aria-labelledby": id("who"), onclose: () => this.#opener?.focus() });
    root.append(this.form, this.keyBox, this.status, this.error, this.results, this.dialog);
    for (const [value, label] of Object.entries(TYPES)) {
      this.types.append(el("label", {}, el("input", { type: "checkbox", name: "type", value }), label));
    }
  }

  // After the current task, so that a host setting the token right after adding the element is heard.
  connectedCallback() { this.#applyAttributes(); setTimeout(() => this.loadFilters()); }

  attributeChangedCallback(name) { if (this.isConnected && name !== "api-key") this.#applyAttributes(); }

  get token() { return this.#token; }
  set token(value) {
    const changed = (value || null) !== this.#token;
    this.#token = value || null;
    if (changed && this.isConnected && this.#token) {  // a first or refreshed token: start afresh
      if (this.error.dataset.status === "401") this.error.hidden = true;
      this.keyBox.hidden = true;
      this.loadFilters();
    }
  }

  get api() { return (this.getAttribute("api") || SERVICE).replace(/\/+$/, ""); }
  get limit() { const n = parseInt(this.getAttribute("limit") || "5", 10); return Math.min(50, Math.max(1, n || 5)); }
  get answer() { return this.#answer; }

  #applyAttributes() {
    const department = this.getAttribute("department") || "";
    if (department && ![...this.department.options].some((o) => o.value === department)) {
      this.department.append(el("option", { value: department }, department));
    }
    this.department.value = department;
    const types = (this.getAttribute("types") || "").split(",").map((t) => t.trim()).filter(Boolean);
    for (const box of this.types.querySelectorAll("input")) box.checked = types.includes(box.value);
    this.across.checked = this.hasAttribute("cross-functional");
  }

  #credential() {
    if (this.#token) return this.#token;
    const key = this.getAttribute("api-key");
    if (key) return key;
    try { return sessionStorage.getItem(`whoknows-key:${this.api}`); } catch { return null; }
  }

  async #call(path, body) {
    const headers = { Accept: "application/json" };
    const credential = this.#credential();
    if (credential) headers.Authorization = `Bearer ${credential}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(this.api + path, { method: body === undefined ? "GET" : "POST", headers,
        body: body === undefined ? undefined : JSON.stringify(body), mode: "cors", credentials: "omit" });
    } catch (cause) {
      throw new WhoknowsError(`Cannot reach whoknows at ${this.api}: check your connection and try again.`, 0, String(cause));
    }
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    if (response.ok) return data;
    const detail = (data && data.detail) || response.statusText || "";
    const wait = response.headers.get("Retry-After");
    const messages = {
      401: credential ? `whoknows did not accept your credentials (${detail}).` : "whoknows needs you to sign in: this page has no API key or token.",
      403: `You may not do that: ${detail}.`,
      404: `Not found: ${detail}.`,
      413: "That question is too long to send.",
      422: `Please check your question: ${detail}.`,
      429: `Too many questions at once: try again in ${wait || "a few"} seconds.`,
      503: wait ? `whoknows is starting up: try again in ${wait} seconds.` : `whoknows is unavailable: ${detail}.`,
    };
    throw new WhoknowsError(messages[response.status] || `whoknows answered with an error (${response.status}): ${detail}`, response.status, detail);
  }

  #fire(name, detail) { this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true })); }

  #fail(error) {
    this.error.textContent = error.message;
    this.error.dataset.status = String(error.status);
    this.error.hidden = false;
    this.keyBox.hidden = !(error.status === 401 && this.hasAttribute("key-prompt") && !this.#token);
    this.#fire("whoknows-error", { status: error.status, message: error.message, detail: error.detail });
  }

  #saveKey() {
    const value = this.keyBox.querySelector("input").value.trim();
    try { sessionStorage.setItem(`whoknows-key:${this.api}`, value); } catch { /* private mode: kept for this page only */ }
    if (!this.getAttribute("api-key")) this.setAttribute("api-key", value);
    this.keyBox.hidden = true;
    this.error.hidden = true;
    this.loadFilters();
    if (this.input.value.trim()) this.search();
  }

  async loadFilters() {
    try {
      const filters = await this.#call("/v1/filters");
      const chosen = this.department.value;
      this.department.replaceChildren(el("option", { value: "" }, "All departments"),
        ...filters.departments.map((d) => el("option", { value: d }, d)));
      this.department.value = filters.departments.includes(chosen) ? chosen : "";
      for (const box of this.types.querySelectorAll("input")) box.closest("label").hidden = !filters.types.includes(box.value);
      this.types.hidden = filters.types.length < 2;  // one type is no choice
    } catch (error) {
      if (error.status === 401) this.#fail(error);  // the search would fail too: say so now
    }
  }

  async search(question) {
    if (question !== undefined) this.input.value = question;
    const query = this.input.value.trim();
    if (!query) { this.input.focus(); return; }
    performance.mark("whoknows:submit");
    const call = ++this.#busy;
    this.status.textContent = "Searching…";
    this.error.hidden = true;
    const types = [...this.types.querySelectorAll("input:checked")].map((b) => b.value);
    const filters = {};
    if (this.department.value) filters.departments = [this.department.value];
    if (types.length) filters.types = types;
    try {
      const answer = await this.#call("/v1/recommendations", {
        query, limit_resources: this.limit, limit_people: this.limit, filters,
        cross_functional: this.across.checked });
      if (call !== this.#busy) return;  // a newer question was asked meanwhile
      this.#answer = answer;
      this.#render(answer);
      performance.mark("whoknows:rendered");
      performance.measure("whoknows:results", "whoknows:submit", "whoknows:rendered");
      this.status.textContent = `${plural(answer.resources.length, "resource", "resources")} and ` +
        `${plural(answer.people.length, "colleague", "colleagues")} found.`;
      this.#fire("whoknows-results", answer);
    } catch (error) {
      if (call !== this.#busy) return;
      this.status.textContent = "";
      this.#fail(error);
    }
  }

  #render(answer) {
    const resources = el("section", { "aria-labelledby": `${this.idPrefix}-read` },
      el("h2", { id: `${this.idPrefix}-read` }, "What to read"),
      answer.resources.length ? el("ol", {}, answer.resources.map((r) => this.#resource(r)))
        : el("p", { className: "meta" }, "No resource matches; try other words or fewer filters."));
    const people = el("section", { "aria-labelledby": `${this.idPrefix}-ask` },
      el("h2", { id: `${this.idPrefix}-ask` }, "Who knows"),
      answer.people.length ? el("ol", {}, answer.people.map((p) => this.#person(p)))
        : el("p", { className: "meta" }, "Nobody's work matches yet."));
    this.results.replaceChildren(resources, people);
    this.results.hidden = false;
  }

  #resource(r) {
    const title = r.url
      ? el("a", { href: r.url, target: "_blank", rel: "noopener", onclick: () => this.feedback(r.id, "resource", "click") }, r.title)
      : r.title;
    const found = Object.entries(r.why.found_by).map(([name, rank]) => `${RETRIEVERS[name] || name} (#${rank})`);
    const strongest = Object.entries(r.why.signals).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1])
      .slice(0, 3).map(([name]) => REASONS[name] || name.replace(/_/g, " "));
    return el("li", { className: "card" },
      el("div", { className: "title" }, title),
      el("div", { className: "meta" }, [TYPES[r.type] || r.type, r.department].filter(Boolean).join(" · ")),
      el("p", { className: "snippet" }, r.snippet),
      el("details", {}, el("summary", {}, "The passage that matched, and why"),
        el("blockquote", { tabIndex: 0, "aria-label": `Passage of ${r.title} that matched` }, r.why.passage),
        el("p", { className: "meta" }, `Found by ${found.join(" and ") || "the ranking"}` +
          (strongest.length ? `; ranked high because ${strongest.join(", ")}.` : "."))),
      this.#buttons(r.id, "resource", r.title, ["helpful", "not_helpful"]));
  }

  #person(p) {
    const name = p.name || p.id;
    const evidence = (p.evidence || []).map((e) => el("li", {}, `${role(e.role, 0)} `, el("q", {}, e.title)));
    const reasons = Object.entries(p.signals || {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1])
      .slice(0, 2).map(([k]) => SIGNALS[k] || k);
    return el("li", { className: "card" },
      el("div", { className: "title" }, el("button", { type: "button", className: "link",
        onclick: (e) => this.showPerson(p.id, e.currentTarget) }, name)),
      el("div", { className: "meta" }, [p.title, p.department, p.crosses_department ? "another department than yours" : null]
        .filter(Boolean).join(" · ")),
      reasons.length ? el("p", { className: "snippet" }, `Why: ${reasons.join("; ")}.`) : null,
      evidence.length ? el("ul", { className: "evidence", "aria-label": `Evidence for ${name}` }, evidence) : null,
      this.#buttons(p.id, "person", name, ["helpful", "not_helpful", "contacted"]));
  }

  #buttons(id, kind, name, actions) {
    return el("div", { className: "actions", role: "group", "aria-label": `Feedback on ${name}` },
      actions.map((action) => el("button", { type: "button", "aria-pressed": "false",
        onclick: async (e) => {
          const button = e.currentTarget;
          if (await this.feedback(id, kind, action)) button.setAttribute("aria-pressed", "true");
        } }, FEEDBACK[action])));
  }

  async feedback(itemId, itemKind, action) {
    if (!this.#answer) return false;
    const body = { recommendation_id: this.#answer.id, item_id: itemId, item_kind: itemKind, action };
    try {
      await this.#call("/v1/feedback", body);
      if (action !== "click") this.status.textContent = `Thank you: “${FEEDBACK[action]}” recorded.`;
      this.#fire("whoknows-feedback", body);
      return true;
    } catch (error) {
      this.#fail(error);
      return false;
    }
  }

  async showPerson(personId, opener) {
    this.#opener = opener || null;
    let person;
    try {
      person = await this.#call(`/v1/people/${personId.split("/").map(encodeURIComponent).join("/")}`);
    } catch (error) { this.#fail(error); return; }
    const id = `${this.idPrefix}-who`;
    const facts = [person.title, person.department, person.location].filter(Boolean).join(" · ");
    const content = el("div", {},
      el("header", {}, el("h2", { id }, person.name || person.id),
        el("button", { type: "button", onclick: () => this.dialog.close() }, "Close")),
      facts ? el("p", { className: "meta" }, facts) : null,
      person.bio ? el("p", {}, person.bio) : null,
      person.skills && person.skills.length ? el("p", {}, `Skills: ${person.skills.join(", ")}`) : null,
      el("h3", {}, "Strongest documents"),
      person.documents.length
        ? el("ul", { className: "evidence" }, person.documents.map((d) => el("li", {},
          d.url ? el("a", { href: d.url, target: "_blank", rel: "noopener" }, d.title) : d.title,
          el("div", { className: "meta" }, `${role(d.role, 1)} · ${TYPES[d.type] || d.type}`))))
        : el("p", { className: "meta" }, "No documents you may see."));
    this.dialog.replaceChildren(...content.childNodes);
    if (!this.dialog.open) this.dialog.showModal();
    this.dialog.querySelector("button").focus();
    this.#fire("whoknows-profile", person);
  }
}

if (!customElements.get("whoknows-search")) customElements.define("whoknows-search", WhoknowsSearch);
