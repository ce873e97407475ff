import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of a local server, for a remote that goes away and comes back on the
 * same address: `down()` refuses connections (and cuts open ones), `stall()` accepts them and
 * never answers (a remote that hangs), `up()` relays again. Real sockets, no mock: git and
 * curl see exactly what they would see from a dead or hung host.
 */
export class TcpGate {
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private stalled = false;

  constructor(private readonly targetPort: number) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    this.stalled = false;
    if (this.server) return;
    const server = createServer((client) => {
      this.track(client);
      if (this.stalled) {
        client.on('data', () => undefined);
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.track(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Connections are accepted and then nothing: no byte ever comes back. */
  async stall(): Promise<void> {
    await this.up();
    this.stalled = true;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.sockets) c.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
  }
}
