// A TCP port on loopback that nothing listens on right now, for the daemons tests start
// (Alertmanager, nats-server, Prometheus). Another process could take it before the daemon binds;
// the daemon then fails to start and says so.
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
