/**
 * Talking to the explorer server: JSON GETs with clear errors, and the live /ws feed with
 * reconnects.
 * @module
 */

/** GET a JSON API path; throws an Error carrying the server's `{error}` text. */
export async function api(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  let body;
  try {
    body = await res.json();
  } catch {
    throw new Error(`${path}: bad response (${res.status})`);
  }
  if (!res.ok) {
    const err = new Error(typeof body?.error === "string" ? body.error : `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

/**
 * Connect to /ws and call `onMessage({type, data})` for every event; reconnects with backoff.
 * `onState(connected)` reports the link state for the header indicator.
 */
export function connectLive(onMessage, onState) {
  let delay = 500;
  const open = () => {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws`);
    ws.onopen = () => {
      delay = 500;
      onState(true);
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg && typeof msg.type === "string") onMessage(msg);
    };
    ws.onclose = () => {
      onState(false);
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    };
  };
  open();
}
