import { ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

/**
 * A black-holed address: a listening socket whose process never accepts (its event loop is parked in
 * `Atomics.wait`, sleeping, no CPU), with a backlog of 1. Once the accept queue is full the kernel drops
 * further SYNs, so a new connect to it hangs exactly like one to an address that swallows packets.
 */
export async function blackHole(): Promise<{ port: number; close: () => void }> {
  // It says `parked` just before it parks (a write to a pipe is synchronous on Linux): a fixed pause instead let a
  // loaded machine run the filler connects below before it parked, so it accepted them and the queue stayed open.
  const script = `const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{setTimeout(()=>{process.stdout.write(s.address().port+' parked\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0)},20)})`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += String(d);
      if (out.includes(' parked\n')) resolve(Number(out.split(' ')[0]));
    });
    child.once('exit', (code) => reject(new Error(`black hole exited early (${code})`)));
  });
  // Fill the accept queue: these complete the handshake in the kernel and stay queued, never accepted.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 300));
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
