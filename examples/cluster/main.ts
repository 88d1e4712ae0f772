/**
 * main.ts - two fasthttp instances behind nginx, on this machine.
 *
 * Starts `instance.ts` twice (ids a and b, each a process of its own, on the next two ports) and
 * nginx on PORT (default 8080) with an upstream of both, keep-alive connections to them reused.
 * Ctrl-C (or SIGTERM) stops nginx gracefully, then each instance, then exits.
 *
 * @example
 * bun examples/cluster/main.ts                    # nginx on 8080, instances on 8081 and 8082
 * PORT=9000 WORKERS=2 bun examples/cluster/main.ts # each instance with two workers
 * curl http://127.0.0.1:8080/                      # instance a, then instance b, ...
 */
import { startNginx } from "./nginx.ts";

const port = Number(process.env.PORT ?? 8080);
const ids = ["a", "b"];
const instances = ids.map((id, i) =>
  Bun.spawn([process.execPath, `${import.meta.dir}/instance.ts`], {
    env: { ...process.env, ID: id, PORT: String(port + 1 + i) },
    stdin: "ignore",
    stdout: "inherit",
    stderr: "inherit",
  }),
);

async function stopInstances(): Promise<void> {
  for (const p of instances) p.kill("SIGTERM"); // each finishes its in-flight responses
  await Promise.all(instances.map((p) => p.exited));
}

// Give the instances a moment to bind; nginx retries an upstream that refuses anyway.
await Bun.sleep(500);
let nginx;
try {
  nginx = await startNginx({ port, upstreams: ids.map((_, i) => port + 1 + i), keepalive: 16 });
} catch (err) {
  console.error(`cluster: ${(err as Error).message}`);
  await stopInstances();
  process.exit(1);
}
console.log(`nginx listening on http://127.0.0.1:${port}/ (config in ${nginx.dir}/nginx.conf)`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: stopping nginx, then the instances...`);
    await nginx.stop();
    await stopInstances();
    console.log("Stopped.");
    process.exit(0);
  });
}
