/**
 * `host:port` peer addresses: parsing with clear errors (config, CLI and PEX input).
 * @module
 */
import type { Validated } from "./types.ts";

/** A parsed peer address. */
export interface PeerAddress {
  host: string;
  port: number;
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parse `host:port` (IPv6 as `[::1]:7470`). */
export function parseAddress(text: string): Validated<PeerAddress> {
  const s = text.trim();
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\s]+):(\d{1,5})$/.exec(s);
  if (!m) {
    return { ok: false, reason: `"${s.slice(0, 80)}" is not host:port (e.g. 127.0.0.1:7470)` };
  }
  // Both patterns have exactly two groups, neither optional: a match sets both.
  const host = m[1]!;
  const portText = m[2]!;
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    return { ok: false, reason: `port ${portText} is out of range 1-65535` };
  }
  if (!s.startsWith("[") && !HOSTNAME_RE.test(host)) {
    return { ok: false, reason: `"${host.slice(0, 80)}" is not a valid host name or IP address` };
  }
  return { ok: true, value: { host, port } };
}

/** Format an address back to `host:port`. */
export function formatAddress(a: PeerAddress): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
