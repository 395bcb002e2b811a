// The page's three views (task table, orchestrator trees, task detail) as pure DOM builders.

import { age, clock, duration, el, link, localTime, prNumber, statePill } from "./dom.js";

const DASH = "—";

// -- task table ---------------------------------------------------------------------------
// The rows of `shown` (a page of `rows`); an orchestrator's children are counted over `rows`.
export function taskRows(rows, shown, details, selectedId, onSelect) {
  const children = new Map();
  for (const row of rows) {
    if (row.orchestrator_run_id != null) {
      children.set(row.orchestrator_run_id, (children.get(row.orchestrator_run_id) || 0) + 1);
    }
  }
  return shown.map((row) => taskRow(row, details.get(row.task_id), children, selectedId, onSelect));
}

function taskRow(row, detail, children, selectedId, onSelect) {
  const select = () => onSelect(row.task_id);
  return el(
    "tr",
    {
      "data-task-id": row.task_id,
      class: row.task_id === selectedId ? "selected" : null,
      tabindex: 0,
      onclick: select,
      onkeydown: (event) => event.key === "Enter" && select(),
    },
    el("td", {}, statePill(row.state), upstream(row.codegen_status, row.state)),
    el("td", { class: "repo", text: row.repo || DASH }),
    el("td", { class: "type" },
      el("div", { title: row.task_type || "", text: row.task_type || DASH }),
      roleTags(row, children)),
    el("td", { class: "query", title: row.query || "" }, row.query || ""),
    el("td", { class: "run" }, runLink(row.agent_run_id, row.web_url)),
    el("td", { class: "prs" }, pullRequestLinks(detail?.pull_requests)),
    el("td", {
      class: "age", "data-since": row.created_at, title: localTime(row.created_at),
      text: age(row.created_at),
    }),
  );
}

// The Codegen status that each state is named after: shown under the state only when it says
// more (EVALUATION under running, say), so that most rows take one line.
const PLAIN_STATUS = {
  running: "ACTIVE", completed: "COMPLETE", failed: "ERROR", cancelled: "CANCELLED", paused: "PAUSED",
};

function upstream(codegenStatus, state) {
  if (!codegenStatus || codegenStatus.toLowerCase() === state) return null;
  if (PLAIN_STATUS[state] === codegenStatus) return null;
  return el("div", { class: "muted small", text: codegenStatus });
}

function roleTags(row, children) {
  const tags = [];
  if (row.command === "resume") tags.push("resume");
  if (row.orchestrator_run_id != null) tags.push(`child of #${row.orchestrator_run_id}`);
  const count = row.agent_run_id != null ? children.get(row.agent_run_id) : 0;
  if (count) tags.push(`orchestrator · ${count} ${count === 1 ? "child" : "children"}`);
  return tags.length ? el("div", { class: "muted small", text: tags.join(" · ") }) : null;
}

function runLink(runId, webUrl) {
  if (runId == null) return DASH;
  return link(webUrl, `#${runId}`, "run-link");
}

function pullRequestLinks(pullRequests) {
  if (!pullRequests || pullRequests.length === 0) return null;
  return pullRequests.map((pr) => link(pr.url, prNumber(pr), "pr"));
}

// The rows of page `page` (0 = newest), and what the pager says about it.
export function pageOf(rows, page, size) {
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const index = Math.min(Math.max(0, page), pages - 1);
  const first = index * size;
  const shown = rows.slice(first, first + size);
  const info = rows.length ? `${first + 1}–${first + shown.length} of ${rows.length}` : "";
  return { rows: shown, index, pages, info };
}

export function stateCounts(rows) {
  const counts = new Map();
  for (const row of rows) counts.set(row.state, (counts.get(row.state) || 0) + 1);
  return [...counts].map(([state, count]) =>
    el("span", { class: `count state-${state}` }, `${count} ${state}`));
}

// -- orchestrator trees -------------------------------------------------------------------
export function treeView(tree, selectedId, onSelect) {
  return el(
    "div",
    { class: "tree-root", "data-run-id": tree.agent_run_id },
    el("ul", { class: "tree" }, treeNode(tree, selectedId, onSelect)),
  );
}

function treeNode(node, selectedId, onSelect) {
  const line = el(
    "div",
    {
      class: `tree-line${node.task_id && node.task_id === selectedId ? " selected" : ""}`,
      onclick: node.task_id ? () => onSelect(node.task_id) : null,
    },
    statePill(node.state),
    el("span", { class: "run" }, runLink(node.agent_run_id, node.web_url)),
    node.delivery ? deliveryBadge(node.delivery) : null,
    el("span", { class: "summary", title: node.summary || "", text: node.summary || "" }),
  );
  const kids = node.children || [];
  return el(
    "li",
    { "data-run-id": node.agent_run_id, "data-task-id": node.task_id },
    line,
    kids.length ? el("ul", {}, kids.map((kid) => treeNode(kid, selectedId, onSelect))) : null,
  );
}

function deliveryBadge(delivery) {
  const state = delivery.state || "unknown";
  const slug = state.split(" ")[0];
  let text = state === "pending" || state === "failed" ? `delivery ${state}` : state;
  if (state === "delivered" && delivery.delivered_at) {
    text = `delivered ${clock(delivery.delivered_at)}`;
  }
  return el("span", {
    class: `delivery delivery-${slug}`,
    title: delivery.error || `to orchestrator #${delivery.orchestrator_run_id}`,
    text,
  });
}

// Runs below the root of a tree: a tree whose root is among them is shown inside that one.
export function descendantRuns(tree, into = new Set()) {
  for (const child of tree.children || []) {
    if (child.agent_run_id != null) into.add(child.agent_run_id);
    descendantRuns(child, into);
  }
  return into;
}

// -- task detail --------------------------------------------------------------------------
export function detailView(status, logs, onClose, onRefreshLogs) {
  return [
    el(
      "div",
      { class: "detail-head" },
      statePill(status.state),
      el("h2", {}, "Task ", el("code", { text: status.task_id })),
      el("button", { type: "button", class: "quiet", onclick: onClose, text: "Close" }),
    ),
    status.last_message ? callout("question", "The agent asks", status.last_message) : null,
    status.error ? callout("error", "Error", status.error) : null,
    el("dl", { class: "facts" }, facts(status)),
    section("Query", el("pre", { class: "text", text: status.query || "" })),
    status.result && status.result !== status.last_message
      ? section("Result", el("pre", { class: "text result", text: status.result }))
      : null,
    section("Agent log", logView(logs), el("button", {
      type: "button", class: "quiet", onclick: onRefreshLogs, text: "Refresh",
    })),
  ];
}

function callout(kind, title, text) {
  return el("div", { class: `callout callout-${kind}` },
    el("strong", { text: title }), el("pre", { class: "text", text }));
}

function section(title, body, action = null) {
  return el("section", { class: "detail-section" },
    el("div", { class: "section-head" }, el("h3", { text: title }), action), body);
}

function facts(status) {
  const meta = status.metadata || {};
  const rows = [
    ["Agent run", runLink(status.agent_run_id, status.web_url)],
    ["Codegen status", status.codegen_status],
    ["Repository", meta.repo],
    ["Branch", meta.branch],
    ["PR", meta.pr != null ? `#${meta.pr}` : null],
    ["Task type", meta.task_type],
    ["Command", meta.command === "resume" ? `resume of #${meta.resumed_run_id}` : meta.command],
    ["Orchestrator", status.orchestrator_run_id != null ? `#${status.orchestrator_run_id}` : null],
    ["Delivery", status.delivery ? deliveryBadge(status.delivery) : null],
    ["Delivers", meta.delivered_children ? meta.delivered_children.join(", ") : null],
    ["Created", localTime(status.created_at)],
    ["Started", localTime(status.started_at)],
    ["Completed", localTime(status.completed_at)],
    ["Took", duration(status.started_at, status.completed_at)],
    ["Pull requests", prList(status.pull_requests)],
    ["Cancel", status.cancel_note || status.cancel_scope],
  ];
  return rows
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([name, value]) => [el("dt", { text: name }), el("dd", {}, value)]);
}

function prList(pullRequests) {
  if (!pullRequests || pullRequests.length === 0) return null;
  return el("ul", { class: "plain" }, pullRequests.map((pr) =>
    el("li", {}, link(pr.url, prNumber(pr), "pr"), pr.title ? ` ${pr.title}` : "")));
}

function logView(logs) {
  if (!logs) return el("p", { class: "muted", text: "Loading…" });
  if (logs.error) return el("p", { class: "muted", text: logs.error });
  if (logs.entries.length === 0) return el("p", { class: "muted", text: "No log entries yet." });
  return el("ol", { class: "logs" }, logs.entries.map((entry) =>
    el("li", {},
      el("time", { title: localTime(entry.at), text: clock(entry.at) }),
      el("span", { class: "log-type", text: entry.type || "" }),
      el("span", { class: "log-text" },
        entry.tool ? el("code", { class: "log-tool", text: entry.tool }) : null,
        entry.text || ""))));
}
