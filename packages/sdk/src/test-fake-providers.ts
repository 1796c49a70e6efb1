import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Local stand-ins for OpenAI and Anthropic (the only thing in the adapter
 * tests that is not real): plain node:http on 127.0.0.1, answering the
 * routes the SDKs call with fixed usage, streaming SSE the way each provider
 * does, and recording every request body so a test can tell which model was
 * asked for and whether the provider was reached at all. Streams send their
 * first few events at once and the rest slowly, so a reader can stop halfway.
 */

export const WORDS = ["Hello", ", ", "world", "!", " More", " text", " here", "."];

export interface FakeProvider {
  url: string;
  /** Request bodies received, in order. */
  requests: Array<Record<string, unknown> & { model?: string }>;
  /** Streams the provider saw the client close before their end. */
  cutStreams: number;
  close(): Promise<void>;
}

async function startFake(
  route: (path: string, body: Record<string, unknown>, res: ServerResponse, sse: Sse) => Promise<void>,
): Promise<FakeProvider> {
  const sockets = new Set<Socket>();
  const fake: FakeProvider = { url: "", requests: [], cutStreams: 0, close: async () => undefined };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    for await (const part of req) raw += part;
    const body = JSON.parse(raw || "{}") as Record<string, unknown>;
    fake.requests.push(body);
    const sse = new Sse(res, () => fake.cutStreams++);
    await route(req.url ?? "", body, res, sse);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  fake.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return fake;
}

class Sse {
  private sent = 0;
  private closed = false;
  constructor(
    private res: ServerResponse,
    onCut: () => void,
  ) {
    res.on("close", () => {
      if (!res.writableEnded) onCut();
      this.closed = true;
    });
  }
  /** One event; after the first four, 30 ms apart. False once the client has gone. */
  async send(data: unknown, event?: string): Promise<boolean> {
    if (this.closed) return false;
    if (!this.res.headersSent) {
      this.res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    }
    if (this.sent++ >= 4) await new Promise((r) => setTimeout(r, 30));
    if (this.closed) return false;
    this.res.write(
      `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`,
    );
    return true;
  }
  end() {
    if (!this.closed) this.res.end();
  }
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

/** OpenAI: /v1/chat/completions and /v1/responses; usage 12 in, 8 out. */
export function startFakeOpenAI(usage = { input: 12, output: 8 }): Promise<FakeProvider> {
  return startFake(async (path, body, res, sse) => {
    const model = String(body.model);
    const created = Math.floor(Date.now() / 1000);
    if (path.endsWith("/chat/completions")) {
      const u = {
        prompt_tokens: usage.input,
        completion_tokens: usage.output,
        total_tokens: usage.input + usage.output,
      };
      if (!body.stream) {
        return json(res, 200, {
          id: "chatcmpl-1",
          object: "chat.completion",
          created,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
          usage: u,
        });
      }
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      const chunk = (delta: object, finish: string | null) => ({
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
        ...(includeUsage ? { usage: null } : {}),
      });
      for (const word of WORDS) if (!(await sse.send(chunk({ content: word }, null)))) return;
      if (!(await sse.send(chunk({}, "stop")))) return;
      if (includeUsage && !(await sse.send({ ...chunk({}, null), choices: [], usage: u }))) return;
      await sse.send("[DONE]");
      return sse.end();
    }
    if (path.endsWith("/responses")) {
      const response = (status: string) => ({
        id: "resp_1",
        object: "response",
        created_at: created,
        status,
        model,
        output: [
          {
            type: "message",
            id: "msg_1",
            status: "completed",
            role: "assistant",
            content: [{ type: "output_text", text: WORDS.join(""), annotations: [] }],
          },
        ],
        usage:
          status === "completed"
            ? { input_tokens: usage.input, output_tokens: usage.output, total_tokens: usage.input + usage.output }
            : null,
      });
      if (!body.stream) return json(res, 200, response("completed"));
      let n = 0;
      if (!(await sse.send({ type: "response.created", sequence_number: n++, response: response("in_progress") })))
        return;
      for (const delta of WORDS) {
        const event = { type: "response.output_text.delta", sequence_number: n++, item_id: "msg_1", delta };
        if (!(await sse.send(event, event.type))) return;
      }
      await sse.send({ type: "response.completed", sequence_number: n++, response: response("completed") });
      return sse.end();
    }
    json(res, 404, { error: { message: `no route ${path}` } });
  });
}

/**
 * Anthropic: /v1/messages; usage 30 in, 10 out. The stream reports its output
 * count in two message_delta events, 5 then 10: cumulative, so 10 is right
 * and 15 (their sum) is wrong.
 */
export function startFakeAnthropic(usage = { input: 30, output: 10 }): Promise<FakeProvider> {
  return startFake(async (path, body, res, sse) => {
    if (!path.endsWith("/v1/messages")) return json(res, 404, { type: "error", error: { message: path } });
    const message = (content: unknown[], output: number, stop: string | null) => ({
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: String(body.model),
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage: { input_tokens: usage.input, output_tokens: output },
    });
    if (!body.stream) return json(res, 200, message([{ type: "text", text: "hi" }], usage.output, "end_turn"));
    const send = (event: { type: string; [key: string]: unknown }) => sse.send(event, event.type);
    if (!(await send({ type: "message_start", message: message([], 1, null) }))) return;
    if (!(await send({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }))) return;
    for (const [i, text] of WORDS.entries()) {
      if (!(await send({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }))) return;
      if (i === 3) {
        const half = {
          type: "message_delta",
          delta: { stop_reason: null },
          usage: { output_tokens: usage.output / 2 },
        };
        if (!(await send(half))) return;
      }
    }
    if (!(await send({ type: "content_block_stop", index: 0 }))) return;
    const last = { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: usage.output } };
    if (!(await send(last))) return;
    await send({ type: "message_stop" });
    sse.end();
  });
}
