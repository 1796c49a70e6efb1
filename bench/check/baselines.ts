/**
 * The two baselines of bench/check, each an express server in its own
 * process (like enforcement), on the same Redis:
 *   rlf      the same three scopes (org, project, user) limited with
 *            rate-limiter-flexible's RateLimiterRedis.consume
 *   ceiling  one Redis command per request: the practical ceiling of any
 *            Redis-backed check in an express route
 * Configured by env (run.ts starts it): BENCH_MODE rlf|ceiling, BENCH_PORT,
 * BENCH_REDIS_URL, BENCH_PREFIX.
 */
import express from "express";
import { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";

const { BENCH_MODE: mode, BENCH_PORT: port, BENCH_REDIS_URL: redisUrl, BENCH_PREFIX: prefix } = process.env;
const redis = new Redis(redisUrl as string, { enableOfflineQueue: false });
await new Promise((resolve) => redis.once("ready", resolve));
const app = express();
app.use(express.json({ limit: "16kb" }));

if (mode === "rlf") {
  const limiter = (scope: string) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:${scope}`, points: 1e12, duration: 86_400 });
  const org = limiter("org");
  const project = limiter("project");
  const user = limiter("user");
  app.post("/v1/check", async (req, res) => {
    const body = req.body as {
      org_id: string;
      project_id: string;
      user_id: string;
      input_tokens: number;
      max_output_tokens: number;
    };
    const points = body.input_tokens + body.max_output_tokens;
    try {
      await Promise.all([
        org.consume(body.org_id, points),
        project.consume(body.project_id, points),
        user.consume(body.user_id, points),
      ]);
      res.json({ decision: "allow" });
    } catch {
      res.json({ decision: "deny" });
    }
  });
} else {
  app.post("/v1/check", async (req, res) => {
    const body = req.body as { user_id: string; input_tokens: number; max_output_tokens: number };
    await redis.incrby(`${prefix}:ceiling:${body.user_id}`, body.input_tokens + body.max_output_tokens);
    res.json({ decision: "allow" });
  });
}

const server = app.listen(Number(port), "127.0.0.1", () => console.log(`LISTENING ${mode}`));
process.on("SIGTERM", () => {
  server.close();
  redis.disconnect();
});
