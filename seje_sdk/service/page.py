"""The search page served at GET /: plain HTML and a little JavaScript, no build step.

Upload a food photo (finds recipes), type a few words or paste a recipe (find photos); the page calls the same
JSON endpoints as any client and shows rank, title, score and a thumbnail per hit.
"""
from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>seje search</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
  .forms { display: flex; gap: 1.5rem; flex-wrap: wrap; }
  form { flex: 1 1 22rem; border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem; }
  form.wide { margin-bottom: 1.5rem; }
  label { display: block; font-size: .85rem; color: #555; margin: .5rem 0 .2rem; }
  textarea, input[type=text] { width: 100%; box-sizing: border-box; font: inherit; }
  button { margin-top: .7rem; padding: .4rem 1rem; font: inherit; cursor: pointer; }
  #status { margin: 1rem 0; min-height: 1.2rem; } #status.error { color: #b00020; }
  #query-preview { max-height: 96px; border-radius: 6px; display: none; margin-top: .5rem; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #eee; }
  td.score { font-variant-numeric: tabular-nums; } img.thumb { width: 56px; height: 56px; object-fit: cover; border-radius: 6px; }
</style>
</head>
<body>
<h1>seje: cross-modal food retrieval</h1>
<p class="sub">A photo finds recipes; words or a recipe find photos. <span id="index-info"></span></p>
<p class="sub"><label for="api-key" style="display:inline">API key (only if the service asks for one)</label>
  <input id="api-key" type="password" size="28" autocomplete="off"></p>
<form id="text-form" class="wide">
  <label for="text-query"><strong>Search photos by text</strong></label>
  <input id="text-query" type="text" placeholder="spicy chicken curry" required>
  <label for="k-text">Top k</label>
  <input id="k-text" type="number" min="1" value="5">
  <div><button id="search-text" type="submit">Find photos</button></div>
</form>
<div class="forms">
  <form id="photo-form">
    <strong>Search by photo</strong>
    <label for="photo">Food photo</label>
    <input id="photo" name="image" type="file" accept="image/*" required>
    <img id="query-preview" alt="query photo">
    <label for="k-photo">Top k</label>
    <input id="k-photo" name="k" type="number" min="1" value="5">
    <div><button id="search-photo" type="submit">Find recipes</button></div>
  </form>
  <form id="recipe-form">
    <strong>Search by recipe</strong>
    <label for="recipe-title">Title</label>
    <input id="recipe-title" type="text" placeholder="Tomato soup">
    <label for="recipe-ingredients">Ingredients, one per line</label>
    <textarea id="recipe-ingredients" rows="3"></textarea>
    <label for="recipe-instructions">Instructions, one step per line</label>
    <textarea id="recipe-instructions" rows="3"></textarea>
    <label for="k-recipe">Top k</label>
    <input id="k-recipe" type="number" min="1" value="5">
    <div><button id="search-recipe" type="submit">Find photos</button></div>
  </form>
</div>
<div id="status"></div>
<table id="results" hidden>
  <thead><tr><th>#</th><th></th><th>title</th><th>id</th><th>score</th></tr></thead>
  <tbody></tbody>
</table>
<script>
const $ = (id) => document.getElementById(id);
const lines = (text) => text.split("\\n").map((s) => s.trim()).filter(Boolean);

function status(text, isError) { $("status").textContent = text; $("status").className = isError ? "error" : ""; }

function show(answer) {
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  for (const hit of answer.hits) {
    const row = document.createElement("tr");
    row.className = "hit";
    const cells = [String(hit.rank), "", hit.title || "", String(hit.id), hit.score.toFixed(4)];
    const names = ["rank", "thumb-cell", "title", "id", "score"];
    cells.forEach((text, i) => { const td = document.createElement("td"); td.className = names[i]; td.textContent = text; row.appendChild(td); });
    if (hit.thumbnail) {
      const img = document.createElement("img");
      img.className = "thumb"; img.alt = hit.title || String(hit.id);
      img.onerror = () => img.remove();  // never a broken-image placeholder
      row.children[1].appendChild(img);
      loadImage(img, hit.thumbnail);
    }
    body.appendChild(row);
  }
  $("results").hidden = false;
  const unknown = (answer.unknown_words || []).length ? ` (not in the model's vocabulary: ${answer.unknown_words.join(", ")})` : "";
  const read = Object.entries(answer.substitutes || {}).map(([typed, word]) => `${typed} -> ${word}`);
  const readAs = read.length ? ` (read as: ${read.join(", ")})` : "";
  status(`top ${answer.hits.length} ${answer.target}s for your ${answer.query}${readAs}${unknown}`, false);
}

const auth = () => { const key = $("api-key").value.trim(); return key ? { "X-API-Key": key } : {}; };

async function loadImage(img, src) {
  // with a key, an <img src> cannot send it: fetch the thumbnail and show it as a blob
  if (!Object.keys(auth()).length) { img.src = src; return; }
  const response = await fetch(src, { headers: auth() });
  if (response.ok) img.src = URL.createObjectURL(await response.blob()); else img.remove();
}

async function ask(url, options) {
  status("searching...", false);
  try {
    const response = await fetch(url, { ...options, headers: { ...(options.headers || {}), ...auth() } });
    const answer = await response.json();
    if (!response.ok) {
      status(`${response.status}: ${answer.error || "request failed"}`, true);
      $("results").hidden = true;
      return;
    }
    show(answer);
  } catch (err) { status(`request failed: ${err}`, true); }
}

// the query photo is shown only once the browser has decoded it: a file it cannot read shows nothing
$("query-preview").addEventListener("load", () => { $("query-preview").style.display = "block"; });
$("query-preview").addEventListener("error", () => { $("query-preview").style.display = "none"; $("query-preview").removeAttribute("src"); });
$("photo").addEventListener("change", () => {
  const file = $("photo").files[0];
  $("query-preview").style.display = "none";
  if (file) $("query-preview").src = URL.createObjectURL(file); else $("query-preview").removeAttribute("src");
});

$("photo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append("image", $("photo").files[0]);
  form.append("k", $("k-photo").value);
  ask("/search/image", { method: "POST", body: form });
});

$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  ask("/search/text", { method: "POST", headers: { "content-type": "application/json" },
                        body: JSON.stringify({ text: $("text-query").value, k: Number($("k-text").value) }) });
});

$("recipe-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const recipe = { title: $("recipe-title").value, ingredients: lines($("recipe-ingredients").value),
                   instructions: lines($("recipe-instructions").value) };
  ask("/search/recipe", { method: "POST", headers: { "content-type": "application/json" },
                          body: JSON.stringify({ recipe, k: Number($("k-recipe").value) }) });
});

fetch("/ready").then((r) => r.json()).then((info) => {
  if (info.status === "ready") $("index-info").textContent = `Indexed: ${info.index.recipe || 0} recipes, ${info.index.image || 0} photos.`;
  else $("index-info").textContent = `Service ${info.status}${info.error ? ": " + info.error : ""}.`;
}).catch(() => {});
</script>
</body>
</html>
"""


DOCS = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>seje API</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; color: #222; }
  .op { border: 1px solid #ddd; border-radius: 8px; padding: .5rem 1rem; margin: .6rem 0; }
  .method { font-weight: bold; display: inline-block; width: 4.5rem; } code { background: #f4f4f4; padding: 0 .2rem; }
  #error { color: #b00020; }
</style></head>
<body>
<h1>seje API</h1>
<p>Every endpoint, read from <a href="/openapi.json">/openapi.json</a> (served by this process; nothing is loaded
from the internet). API key, if the service needs one: <input id="key" type="password" size="30">
<button id="load">reload</button></p>
<div id="error"></div><div id="ops"></div>
<script>
async function load() {
  const key = document.getElementById("key").value;
  const response = await fetch("/openapi.json", key ? { headers: { "X-API-Key": key } } : {});
  const spec = await response.json();
  if (!response.ok) { document.getElementById("error").textContent = `${response.status}: ${spec.error}`; return; }
  document.getElementById("error").textContent = "";
  const ops = document.getElementById("ops");
  ops.replaceChildren();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const div = document.createElement("div");
      div.className = "op";
      const params = (op.parameters || []).map((p) => p.name + (p.required ? "" : "?"));
      const body = op.requestBody ? Object.keys(op.requestBody.content).join(", ") : "";
      div.innerHTML = '<span class="method"></span><code class="path"></code><div class="summary"></div><small class="args"></small>';
      div.querySelector(".method").textContent = method.toUpperCase();
      div.querySelector(".path").textContent = path;
      div.querySelector(".summary").textContent = op.summary || "";
      div.querySelector(".args").textContent = [params.length ? "parameters: " + params.join(", ") : "", body ? "body: " + body : ""].filter(Boolean).join("; ");
      ops.appendChild(div);
    }
  }
}
document.getElementById("load").addEventListener("click", load);
load();
</script>
</body></html>
"""


def page_html() -> str:
    """The search page (static: it reads everything it shows from the JSON endpoints)."""
    return PAGE


def docs_html() -> str:
    """The API docs page: lists /openapi.json's endpoints with no assets from a CDN (works offline)."""
    return DOCS
