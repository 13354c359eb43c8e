// A plain node:http server with Node's defaults (keepAliveTimeout 5 s, and
// "Keep-Alive: timeout=5" on every response): what Better Auth, Next.js and
// most Node services run on. The Go tests in this package start it.
//
// Environment: PORT (default 0: any free port), KEEP_ALIVE_MS (overrides
// keepAliveTimeout). It prints "listening <port>" once it accepts.
//
// Every request is answered 200 with JSON {method, bytes, seen, port}: the
// body length it read, how many requests with this X-Test-Id it has seen and
// the client port of the connection (a new port: a new connection).
// A request with X-Drop: once for an X-Test-Id not seen before is dropped
// instead (its socket destroyed before any response byte), as a server that
// closes a kept-alive connection just as a request arrives.
import http from "node:http";
import process from "node:process";

const seen = new Map();
const server = http.createServer((req, res) => {
  const id = req.headers["x-test-id"] ?? "";
  const n = (seen.get(id) ?? 0) + 1;
  seen.set(id, n);
  let bytes = 0;
  req.on("data", (chunk) => (bytes += chunk.length));
  req.on("end", () => {
    if (req.headers["x-drop"] === "once" && n === 1) {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ method: req.method, bytes, seen: n, port: req.socket.remotePort }));
  });
});
if (process.env.KEEP_ALIVE_MS) server.keepAliveTimeout = Number(process.env.KEEP_ALIVE_MS);
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
