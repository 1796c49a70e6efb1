import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

/**
 * Where a webhook may point (SSRF). An admin names the URL, but the
 * dispatcher sends from inside the network: without this an endpoint at
 * http://169.254.169.254/ or http://localhost:6379/ would make Tollgate
 * talk to the cloud's metadata service or to its own Redis. Checked when an
 * endpoint is written and again at every delivery, on the address the
 * request then connects to (see deliver.ts): a name that resolved to a
 * public address at creation and to 127.0.0.1 later (DNS rebinding) is
 * refused at delivery.
 */
export interface UrlPolicy {
  allowHttp: boolean;
  allowPrivate: boolean;
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], // "this network"; 0.0.0.0 reaches the local host on Linux
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata services
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
  ["64:ff9b::", 96], // NAT64 can reach private IPv4
] as const) {
  blocked.addSubnet(net, prefix, "ipv6");
}

/** Whether an IP address is private, loopback, link-local or otherwise not a public host. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return isPrivateAddress(mapped[1] as string);
  const family = isIP(address);
  if (family === 0) return true;
  return blocked.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** The URL's own problems (scheme, credentials), without DNS; null when fine. */
export function urlProblem(raw: string, policy: UrlPolicy): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowHttp)) {
    return policy.allowHttp
      ? "must be an http or https URL"
      : "must be an https URL (TOLLGATE_WEBHOOK_ALLOW_HTTP is off)";
  }
  if (url.username || url.password) return "must not carry credentials";
  if (url.hash) return "must not carry a fragment";
  return null;
}

export interface ResolvedTarget {
  url: URL;
  /** The address checked, and the one the request must connect to. */
  address: string;
  family: 4 | 6;
}

/** A host name that does not resolve (now): not a policy refusal, the address is checked again at delivery. */
export class UnresolvedHostError extends Error {}

async function resolveHost(host: string): Promise<Array<{ address: string; family: 4 | 6 }>> {
  let addresses: Array<{ address: string; family: 4 | 6 }>;
  try {
    addresses = (await lookup(host, { all: true, verbatim: true })) as Array<{ address: string; family: 4 | 6 }>;
  } catch (err) {
    const code = (err as { code?: string }).code ?? "no answer";
    throw new UnresolvedHostError(`url host ${host} does not resolve (${code})`);
  }
  if (addresses.length === 0) throw new UnresolvedHostError(`url host ${host} does not resolve`);
  return addresses;
}

/** Resolves the URL's host and checks the address; throws with the reason when it may not be reached. */
export async function resolveTarget(raw: string, policy: UrlPolicy): Promise<ResolvedTarget> {
  const problem = urlProblem(raw, policy);
  if (problem) throw new Error(`url ${problem}`);
  const url = new URL(raw);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) as 4 | 6 }] : await resolveHost(host);
  // Every address, not only the first: a name with one public and one private record is refused.
  if (!policy.allowPrivate) {
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused) {
      throw new Error(
        `url host ${host} resolves to ${refused.address}, a private, loopback or link-local address (TOLLGATE_WEBHOOK_ALLOW_PRIVATE is off)`,
      );
    }
  }
  const first = addresses[0] as { address: string; family: 4 | 6 };
  return { url, address: first.address, family: first.family };
}
