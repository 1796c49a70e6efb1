import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { Webhook } from "standardwebhooks";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  atMs: number;
  /** What the receiver answered (0: it never did). */
  status: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Never answer (the connection stays open until the client gives up). */
  hang?: boolean;
}

/**
 * A webhook receiver on 127.0.0.1 for tests: records every request and
 * answers with what `answer` says for its path (200 by default). Verifying
 * is left to the test (`verify`), with the standardwebhooks package, the
 * reference implementation receivers use.
 */
export async function startReceiver(): Promise<{
  url(path: string): string;
  received(path?: string): Received[];
  answer(path: string, answers: Answer[] | ((n: number) => Answer)): void;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const answers = new Map<string, (n: number) => Answer>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const request = { path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), atMs: Date.now() };
      const n = received.filter((r) => r.path === path).length + 1;
      const answer = answers.get(path)?.(n) ?? { status: 200 };
      received.push({ ...request, status: answer.hang ? 0 : answer.status });
      if (answer.hang) return;
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(`answer ${answer.status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received: (path) => (path === undefined ? [...received] : received.filter((r) => r.path === path)),
    answer(path, given) {
      answers.set(path, Array.isArray(given) ? (n) => given[Math.min(n, given.length) - 1] ?? { status: 200 } : given);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The verified payload, or throws (standardwebhooks' own check: signature and timestamp tolerance). */
export function verify(secret: string, request: Received): unknown {
  return new Webhook(secret).verify(request.body, {
    "webhook-id": String(request.headers["webhook-id"]),
    "webhook-timestamp": String(request.headers["webhook-timestamp"]),
    "webhook-signature": String(request.headers["webhook-signature"]),
  });
}
