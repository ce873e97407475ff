import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of a local server, for a remote that goes away and comes back on the
 * same address: `down()` drops every connection (open ones are cut, new ones closed at once),
 * `stall()` accepts them and never answers (a remote that hangs), `up()` relays again. The
 * port is kept from the first `up()` to `close()`: given up while down, any other process
 * listening on port 0 could take it meanwhile. Real sockets, no mock: git and curl see what
 * they would see from a host whose service is gone or hung.
 */
export class TcpGate {
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private mode: 'relay' | 'down' | 'stall' = 'relay';

  constructor(private readonly targetPort: number) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    this.mode = 'relay';
    if (this.server) return;
    const server = createServer((client) => {
      if (this.mode === 'down') {
        client.on('error', () => undefined);
        client.destroy();
        return;
      }
      this.track(client);
      if (this.mode === 'stall') {
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
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Connections are accepted and then nothing: no byte ever comes back. */
  async stall(): Promise<void> {
    await this.up();
    this.mode = 'stall';
  }

  /** Every connection, open or new, is closed: the port stays taken (see the class). */
  async down(): Promise<void> {
    this.mode = 'down';
    this.cut();
  }

  /** Gives the port up (the test's end). */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.mode = 'down';
    this.cut();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private cut(): void {
    for (const c of this.sockets) c.destroy();
    this.sockets.clear();
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
  }
}
