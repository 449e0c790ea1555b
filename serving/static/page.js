// The service's pages (/ and /embed): options from the query string (limit,
// department, types, q: a question to ask at once), an API key from the fragment,
// and, in /embed, a token from the framing page.
//
//   <iframe src="https://whoknows.example.org/embed?limit=3&department=Data#api-key=wk_..."
//           title="whoknows" style="width:100%;height:40rem;border:0"></iframe>
//
// A framing page listed in WHOKNOWS_FRAME_ANCESTORS may instead send a token, and
// refresh it the same way:
//   frame.contentWindow.postMessage({ type: "whoknows:token", token }, "https://whoknows.example.org");

const search = document.querySelector("whoknows-search");
const options = new URLSearchParams(location.search);
for (const name of ["limit", "department", "types"]) {
  if (options.get(name)) search.setAttribute(name, options.get(name));
}
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("api-key")) search.setAttribute("api-key", fragment.get("api-key"));
if (options.get("q")) customElements.whenDefined("whoknows-search").then(() => search.search(options.get("q")));

const parents = (document.querySelector('meta[name="whoknows-parents"]')?.content || "").split(/\s+/).filter(Boolean);

function allowed(origin) {
  return parents.some((source) => {
    if (source === "'self'") return origin === location.origin;
    if (!source.includes("*.")) return origin === source;
    const [scheme, host] = source.split("://*.");
    const url = new URL(origin);
    return url.protocol === `${scheme}:` && url.host.endsWith(`.${host}`);
  });
}

window.addEventListener("message", (event) => {
  if (event.source !== window.parent || !allowed(event.origin)) return;
  const data = event.data || {};
  if (data.type === "whoknows:token" && typeof data.token === "string") search.token = data.token;
});
