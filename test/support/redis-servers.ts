import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectRedis, mastersOf, type RedisClient } from "@tollgate/counters";
import { eventually, freePort, type RunningProcess, startBinary } from "./processes";

/**
 * A Redis of a test's own, for tests that make Redis lose its data (a
 * FLUSHALL on the shared engines would wipe every other suite's keys):
 * one server, or a cluster of masters like the bring-up's. `loseData`
 * flushes every master, as a restart without persistence would.
 */
export interface PrivateRedis {
  url: string;
  client: RedisClient;
  loseData(): Promise<void>;
  stop(): Promise<void>;
}

const NO_PERSISTENCE = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const server = startBinary("redis-server", ["--port", String(port), ...NO_PERSISTENCE], "redis-server");
  await server.waitForOutput(/Ready to accept connections/, 10_000);
  return withClient(`redis://127.0.0.1:${port}`, [server], []);
}

/** Three masters, no replicas (as infra/local/up.sh starts them), each on free ports of its own. */
export async function startPrivateRedisCluster(masters = 3): Promise<PrivateRedis> {
  const nodes: RunningProcess[] = [];
  const dirs: string[] = [];
  const addresses: string[] = [];
  for (let i = 0; i < masters; i++) {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-cluster-"));
    // The cluster bus port is chosen too: the default (port + 10000) may be taken or past 65535.
    const [port, bus] = [await freePort(), await freePort()];
    const node = startBinary(
      "redis-server",
      [
        "--port",
        String(port),
        "--cluster-port",
        String(bus),
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(dir, "nodes.conf"),
        "--dir",
        dir,
        ...NO_PERSISTENCE,
      ],
      `redis-cluster-${port}`,
    );
    nodes.push(node);
    dirs.push(dir);
    addresses.push(`127.0.0.1:${port}`);
  }
  await Promise.all(nodes.map((node) => node.waitForOutput(/Ready to accept connections/, 10_000)));
  const create = spawn("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"]);
  let output = "";
  create.stdout.on("data", (chunk: Buffer) => (output += chunk));
  create.stderr.on("data", (chunk: Buffer) => (output += chunk));
  const [code] = await once(create, "exit");
  if (code !== 0) throw new Error(`redis-cli --cluster create failed:\n${output}`);
  const url = `redis+cluster://${addresses.join(",")}`;
  const probe = connectRedis(url);
  try {
    // Every master must agree before the services start: one that has not seen the others yet refuses commands.
    await eventually(async () => {
      const states = await Promise.all((await mastersOf(probe)).map((node) => node.cluster("INFO")));
      const ok = states.length === masters && states.every((s) => String(s).includes("cluster_state:ok"));
      return ok || undefined;
    }, "the private cluster to be ok");
  } finally {
    probe.disconnect();
  }
  return withClient(url, nodes, dirs);
}

function withClient(url: string, processes: RunningProcess[], dirs: string[]): PrivateRedis {
  const client = connectRedis(url);
  return {
    url,
    client,
    async loseData() {
      for (const master of await mastersOf(client)) await master.flushall();
    },
    async stop() {
      client.disconnect();
      await Promise.all(processes.map((p) => p.stop("SIGKILL")));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
