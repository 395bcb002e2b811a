// The dashboard: reads the POST / commands and redraws what changed, each time the server's
// event stream (GET /events) says a task changed; against a server without one, or while the
// stream is down, it polls every couple of seconds instead.

import { AuthRequired, call, forgetToken, storeToken, storedToken } from "./api.js";
import { clock, el, refreshAges } from "./dom.js";
import { Push } from "./events.js";
import { descendantRuns, detailView, pageOf, stateCounts, taskRows, treeView } from "./views.js";

const POLL_MS = 2000;
const LOGS_EVERY_MS = 6000; // agent logs cost Codegen API budget: read them less often
const LIST_LIMIT = 100; // the most `list` gives; the page shows them PAGE_SIZE at a time
const PAGE_SIZE = 10; // with the Orchestrators panel still in view on a 900-pixel-high screen
const MAX_TREES = 6;
const SETTLED = new Set(["paused", "completed", "failed", "cancelled"]);

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const filters = {
  state: params.get("state") || "",
  repo: params.get("repo") || "",
  task: params.get("task") || "",
};
let page = Math.max(0, (Number.parseInt(params.get("page"), 10) || 1) - 1); // 0: the newest

let data = emptyData();
let timer = null;
let running = false;
let again = false; // something asked for a refresh while one was under way
let waitingForToken = false;
const drawn = { rows: "", trees: "", detail: "" };
const repos = new Set();

function emptyData() {
  return {
    rows: [], page: pageOf([], 0, PAGE_SIZE), details: new Map(), trees: [],
    status: null, logs: null, logsAt: 0, logsKey: "",
  };
}

// -- polling ------------------------------------------------------------------------------
async function tick() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  again = false;
  clearTimeout(timer);
  try {
    await refresh();
    waitingForToken = false;
    showApp();
    const how = push.live ? "" : " (polling)";
    setConnection("live", `live${how} · updated ${clock(new Date().toISOString())}`);
  } catch (error) {
    if (error instanceof AuthRequired) {
      askForToken(error.message === "rejected");
    } else {
      setConnection("error", `cannot refresh: ${error.message}; retrying`);
    }
  } finally {
    running = false;
    const delay = again ? 0 : nextTickMs();
    if (!waitingForToken && !document.hidden && delay !== null) timer = setTimeout(tick, delay);
  }
}

// While the stream is live, changes come as events: only the selected running task's agent
// log (not an event) is read on a clock.
function nextTickMs() {
  if (!push.live) return POLL_MS;
  const status = data.status;
  const logging = status && !status.missing && !SETTLED.has(status.state);
  return logging ? LOGS_EVERY_MS : null;
}

// -- the event stream ---------------------------------------------------------------------
const push = new Push({
  // ready (changes may have gone by while polling), missed, or a task's event: redraw
  onMessage: () => {
    if (!document.hidden) tick();
  },
  onAuthRequired: (error) => askForToken(error.message === "rejected"),
  onPolling: () => tick(), // the stream is down or absent: the ticks poll from here on
});

function listen() {
  if (!waitingForToken) push.start();
}

function stopListening() {
  push.stop();
}

async function refresh() {
  const args = { limit: LIST_LIMIT };
  if (filters.state) args.status = filters.state;
  if (filters.repo) args.repo = filters.repo;
  const { tasks } = await call("list", args);
  const shown = pageOf(tasks, page, PAGE_SIZE);
  page = shown.index; // the list may have shrunk under the page the user was on
  const [details, trees, selected] = await Promise.all([
    loadDetails(shown.rows), loadTrees(tasks), loadSelected(),
  ]);
  data = { ...data, rows: tasks, page: shown, details, trees, ...selected };
  render();
}

// task_status of each row on the page, for its pull requests: fetched again when it moves.
async function loadDetails(rows) {
  const details = new Map();
  const stale = [];
  for (const row of rows) {
    const known = data.details.get(row.task_id);
    if (known && known.signature === signature(row)) details.set(row.task_id, known);
    else stale.push(row);
  }
  const fetched = await Promise.all(stale.map((row) =>
    call("task_status", { task_id: row.task_id }).then((status) => [row, status], (error) => {
      if (error instanceof AuthRequired) throw error;
      return [row, null]; // its row still shows; the pull requests come with the next poll
    })));
  for (const [row, status] of fetched) {
    if (status) {
      details.set(row.task_id, { signature: signature(row), pull_requests: status.pull_requests });
    }
  }
  return details;
}

function signature(row) {
  return [row.state, row.codegen_status, row.agent_run_id, row.completed_at].join("|");
}

// Trees of the orchestrators the listed tasks report to, outermost first.
async function loadTrees(rows) {
  const orchestrators = [...new Set(rows.map((r) => r.orchestrator_run_id).filter((id) => id != null))];
  const trees = await Promise.all(orchestrators.slice(0, MAX_TREES).map((id) =>
    call("tree", { agent_run_id: id }).then((answer) => answer.tree, ignoreNotFound)));
  const found = trees.filter(Boolean);
  const inner = new Set();
  for (const tree of found) descendantRuns(tree, inner);
  return found.filter((tree) => !inner.has(tree.agent_run_id));
}

async function loadSelected() {
  if (!filters.task) return { status: null, logs: null, logsKey: "" };
  let status;
  try {
    status = await call("task_status", { task_id: filters.task });
  } catch (error) {
    if (error instanceof AuthRequired) throw error;
    return { status: { missing: error.message }, logs: null, logsKey: "" };
  }
  const key = `${status.task_id}|${status.state}|${status.codegen_status}`;
  const due = !SETTLED.has(status.state) && Date.now() - data.logsAt >= LOGS_EVERY_MS;
  if (key === data.logsKey && !due && data.logs) return { status, logs: data.logs, logsKey: key };
  return { status, logs: await loadLogs(status), logsKey: key, logsAt: Date.now() };
}

async function loadLogs(status) {
  if (status.agent_run_id == null) return { error: "No agent run yet, so no log." };
  try {
    const answer = await call("logs", { task_id: status.task_id, limit: 20 });
    return { entries: answer.logs };
  } catch (error) {
    if (error instanceof AuthRequired) throw error;
    return { error: `Log unavailable: ${error.message}` };
  }
}

function ignoreNotFound(error) {
  if (error instanceof AuthRequired) throw error;
  return null; // an orchestrator codegen-mcp knows nothing about has no tree to draw
}

// -- drawing ------------------------------------------------------------------------------
function render() {
  const key = (value) => JSON.stringify(value);
  const rowsKey = key([data.rows, data.page.index, [...data.details.values()], filters.task]);
  if (rowsKey !== drawn.rows) {
    drawn.rows = rowsKey;
    const rows = taskRows(data.rows, data.page.rows, data.details, filters.task, select);
    $("task-rows").replaceChildren(...rows);
    $("counts").replaceChildren(...stateCounts(data.rows));
    $("tasks-empty").hidden = data.rows.length > 0;
    renderPager();
    rememberRepos(data.rows);
  }
  const treesKey = key([data.trees, filters.task]);
  if (treesKey !== drawn.trees) {
    drawn.trees = treesKey;
    $("trees").replaceChildren(...data.trees.map((tree) => treeView(tree, filters.task, select)));
    $("trees-empty").hidden = data.trees.length > 0;
  }
  const detailKey = key([data.status, data.logs]);
  if (detailKey !== drawn.detail) {
    drawn.detail = detailKey;
    $("detail").replaceChildren(...detailContent());
  }
  refreshAges(document);
}

function renderPager() {
  const { index, pages, info } = data.page;
  $("pager").hidden = data.rows.length <= PAGE_SIZE;
  $("page-info").textContent = info;
  $("page-prev").disabled = index === 0;
  $("page-next").disabled = index >= pages - 1;
  $("page-more").hidden = data.rows.length < LIST_LIMIT;
}

function detailContent() {
  if (!data.status) {
    return [el("p", { class: "empty", text: "Select a task to see its result, error and agent logs." })];
  }
  if (data.status.missing) return [el("p", { class: "empty", text: data.status.missing })];
  return detailView(data.status, data.logs, () => select(""), refreshLogs).filter(Boolean);
}

function rememberRepos(rows) {
  const before = repos.size;
  for (const row of rows) if (row.repo) repos.add(row.repo);
  if (repos.size !== before) {
    $("repos").replaceChildren(...[...repos].sort().map((repo) => el("option", { value: repo })));
  }
}

function wipe() {
  data = emptyData();
  page = 0;
  drawn.rows = drawn.trees = drawn.detail = "";
  for (const id of ["task-rows", "counts", "trees", "detail", "repos"]) $(id).replaceChildren();
  repos.clear();
}

// -- interaction --------------------------------------------------------------------------
function select(taskId) {
  filters.task = taskId;
  data = { ...data, status: null, logs: null, logsKey: "", logsAt: 0 };
  saveFilters();
  tick();
}

function refreshLogs() {
  data = { ...data, logsKey: "", logsAt: 0 };
  tick();
}

function turnPage(step) {
  page = Math.min(Math.max(0, page + step), data.page.pages - 1);
  data = { ...data, page: pageOf(data.rows, page, PAGE_SIZE) };
  saveFilters();
  render(); // at once from what is loaded; the tick brings this page's pull requests
  tick();
}

function saveFilters() {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  if (page > 0) query.set("page", String(page + 1));
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function setConnection(kind, text) {
  const node = $("connection");
  node.className = `connection-state connection-${kind}`;
  node.dataset.push = push.live ? "events" : "polling";
  node.textContent = text;
  $("forget-token").hidden = !storedToken();
}

function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("filters").hidden = false;
}

// Any 401 hides and drops every piece of task data before asking for the token.
function askForToken(rejected) {
  waitingForToken = true;
  stopListening();
  if (rejected) forgetToken();
  wipe();
  $("app").hidden = true;
  $("filters").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = rejected
    ? "That token was rejected. Check CODEGEN_MCP_AUTH_TOKEN and try again."
    : "";
  setConnection("locked", "token needed");
  $("token").focus();
}

function wireControls() {
  $("filter-state").value = filters.state;
  $("filter-repo").value = filters.repo;
  $("page-prev").addEventListener("click", () => turnPage(-1));
  $("page-next").addEventListener("click", () => turnPage(1));
  $("filter-state").addEventListener("change", (event) => {
    filters.state = event.target.value;
    page = 0;
    saveFilters();
    tick();
  });
  let typing = null;
  $("filter-repo").addEventListener("input", (event) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      filters.repo = event.target.value.trim();
      page = 0;
      saveFilters();
      tick();
    }, 300);
  });
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    storeToken(token);
    $("token").value = "";
    $("login-error").textContent = "";
    setConnection("live", "checking the token…");
    waitingForToken = false; // a wrong token brings the form back (both calls answer 401)
    tick();
    listen();
  });
  $("forget-token").addEventListener("click", () => {
    stopListening();
    forgetToken();
    wipe();
    tick();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !waitingForToken) tick();
  });
}

wireControls();
tick();
listen();
