// Start a codegen-mcp run as an MCP task with the official TypeScript Tasks client
// (@modelcontextprotocol/ext-tasks) and print what it settled to, as one JSON line.
//
// Usage: node client.mjs MCP_URL REPO QUERY
//
// ext-tasks talks to a server through a "session port". Its adapter for the TypeScript SDK
// client needs a raw request path for 2026-07-28 task traffic anyway (rawDispatch), so this
// port is that path alone: each request is one POST of the 2026-07-28 Streamable HTTP wire
// (the envelope in params._meta, the Mcp-* headers), answered as JSON or as an SSE stream.
import { resultFromTaskOutcome, withTasks } from "@modelcontextprotocol/ext-tasks/client";

const [url, repo, query] = process.argv.slice(2);
const VERSION = "2026-07-28";
const CAPABILITIES = "io.modelcontextprotocol/clientCapabilities";
const clientInfo = { name: "ext-tasks-node", version: "0.2.2" };
let nextId = 1;

function headersFor(method, params) {
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": VERSION,
    "mcp-method": method,
  };
  const name = method === "tools/call" ? params.name : params.taskId;
  if (typeof name === "string") headers["mcp-name"] = name;
  return headers;
}

async function answerOf(response, id) {
  const type = response.headers.get("content-type") || "";
  const body = await response.text();
  if (!type.includes("text/event-stream")) return JSON.parse(body);
  for (const event of body.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trim())
      .join("\n");
    if (!data) continue;
    const message = JSON.parse(data);
    if (message.id === id) return message;
  }
  throw new Error(`no answer to request ${id} in the event stream`);
}

async function send(method, params = {}) {
  const id = nextId++;
  const meta = params._meta ?? {};
  const framed = {
    ...params,
    _meta: {
      ...meta,
      "io.modelcontextprotocol/protocolVersion": VERSION,
      "io.modelcontextprotocol/clientInfo": clientInfo,
      [CAPABILITIES]: meta[CAPABILITIES] ?? {},
    },
  };
  const response = await fetch(url, {
    method: "POST",
    headers: headersFor(method, framed),
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params: framed }),
  });
  if (!response.ok && response.status !== 400) {
    throw new Error(`${method}: HTTP ${response.status} ${await response.text()}`);
  }
  const answer = await answerOf(response, id);
  return answer.error ? { kind: "error", error: answer.error } : { kind: "result", result: answer.result };
}

const discovered = await send("server/discover");
if (discovered.kind === "error") throw new Error(`server/discover: ${discovered.error.message}`);
const declared = discovered.result.capabilities?.extensions?.["io.modelcontextprotocol/tasks"];
const port = {
  endpointId: url,
  taskCapabilities: declared ? { generation: "v2", capabilities: {} } : { generation: "none" },
  invalidated: false,
  dispatch: (request) => send(request.method, request.params),
  onServerRequest: () => () => {},
  onNotification: () => () => {},
  onInvalidated: () => () => {},
};

const session = withTasks(port);
try {
  const execution = await session.callTool("new", { repo, query });
  const { outcome, lastTask } = await execution.settle();
  const result = resultFromTaskOutcome(outcome);
  const task = execution.kind === "task" ? execution.handle.taskId : null;
  const last = lastTask ? { status: lastTask.status, ttl: lastTask.retentionMs } : null;
  console.log(JSON.stringify({ declared: Boolean(declared), kind: execution.kind, task, last, result }));
} finally {
  await session.close();
}
