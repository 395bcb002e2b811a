// The page's only way to data: the same POST / commands every other client uses.
//
// When the server has CODEGEN_MCP_AUTH_TOKEN set, each call carries it as a bearer token.
// The page learns it from the user (a prompt shown on a 401) and keeps it in
// sessionStorage: this tab only, gone when the tab closes, never in a cookie or the URL.

const ENDPOINT = "/";
const TOKEN_KEY = "codegen-mcp.dashboard.token";
let memoryToken = null; // when sessionStorage is unavailable

export class AuthRequired extends Error {}

export class CommandError extends Error {
  constructor(message, code, httpStatus) {
    super(message);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the user is asked again after a reload
  }
}

export function storeToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    memoryToken = token;
  }
}

// The token this page sends, wherever it is kept (null: none).
export function currentToken() {
  return storedToken() || memoryToken;
}

export function forgetToken() {
  memoryToken = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}


export async function call(command, args = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const token = currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers,
    body: JSON.stringify({ command, args }),
    cache: "no-store",
    credentials: "omit",
  });
  let body;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  // Only our own front's refusal means this page's token is wrong; any other 401 (say, a
  // proxy relaying an upstream refusal) is an error to show, not a reason to drop the token.
  if (response.status === 401 && (body === null || body.error === "unauthorized")) {
    throw new AuthRequired(token ? "rejected" : "missing");
  }
  if (body === null) {
    throw new CommandError(`the server answered HTTP ${response.status}`, "http", response.status);
  }
  if (!response.ok || body.status !== "success") {
    throw new CommandError(body.message || `HTTP ${response.status}`, body.error, response.status);
  }
  return body;
}
