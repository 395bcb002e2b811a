// The page's push channel: GET /events, the server's task events as they happen.
//
// Read with fetch, not EventSource: an EventSource cannot send the bearer token, and the
// token must never go into the URL. The stream's messages only say "something changed";
// the page then reads what it shows through the same POST / commands as always.

import { AuthRequired, currentToken } from "./api.js";

const ENDPOINT = "/events";
const RETRY_MS = 10000; // after the stream dropped: the page polls meanwhile, then tries again

// The server has no event stream (one from before it: 404): the page polls instead.
export class StreamUnavailable extends Error {}

// Reads the stream until it ends, calling onMessage({id, event, data}) for each message and
// onId(id) for every id: line (including an id-only message, which moves the resume point).
// Always ends by throwing: AuthRequired, StreamUnavailable, or an Error when it drops.
export async function readStream({ lastEventId, onMessage, onId, signal }) {
  const headers = { Accept: "text/event-stream" };
  const token = currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await fetch(ENDPOINT, { headers, cache: "no-store", credentials: "omit", signal });
  if (response.status === 401) throw new AuthRequired(token ? "rejected" : "missing");
  if (response.status === 404) throw new StreamUnavailable("this server has no event stream");
  if (!response.ok || !response.body) throw new Error(`the event stream answered HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let fields = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the event stream ended");
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if ("data" in fields) onMessage({ id: fields.id, event: fields.event, data: parse(fields.data) });
        fields = {};
      } else if (!line.startsWith(":")) { // ":" starts a heartbeat comment
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        fields[name] = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "id") onId(fields.id);
      }
    }
  }
}

// The page's stream: `live` once the server said ready, `off` for good on a server without
// one; a drop is retried after RETRY_MS, resuming after the last id seen.
export class Push {
  constructor({ onMessage, onAuthRequired, onPolling }) {
    Object.assign(this, { onMessage, onAuthRequired, onPolling });
    Object.assign(this, { live: false, off: false, lastId: null, abort: null, retry: null });
  }

  async start() {
    if (this.off || this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    try {
      await readStream({
        lastEventId: this.lastId,
        signal: abort.signal,
        onId: (id) => {
          this.lastId = id;
        },
        onMessage: (message) => {
          if (message.event === "stream.ready") this.live = true;
          this.onMessage(message);
        },
      });
    } catch (error) {
      if (abort.signal.aborted) return; // stopped by the page itself
      this.abort = null;
      this.live = false;
      if (error instanceof AuthRequired) {
        this.onAuthRequired(error);
        return;
      }
      if (error instanceof StreamUnavailable) this.off = true; // an older server: poll for good
      else this.retry = setTimeout(() => this.start(), RETRY_MS);
      this.onPolling();
    }
  }

  stop() {
    if (this.abort) this.abort.abort();
    clearTimeout(this.retry);
    this.abort = null;
    this.live = false;
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
