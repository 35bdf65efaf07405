// Stand-in for the ssh binary in tests: records its argv, then does what `ssh host 'nc -U <socket>'` would
// do on the far side: connects its stdin/stdout to that UNIX socket. Does nothing when run without arguments.
import { writeFileSync } from 'node:fs';
import net from 'node:net';

const args = process.argv.slice(2);
if (args.length > 0) {
  if (process.env.VB_FAKE_SSH_ARGV) writeFileSync(process.env.VB_FAKE_SSH_ARGV, JSON.stringify(args));
  const remote = args[args.length - 1] ?? '';
  const m = /-U\s+(\S+)$/.exec(remote);
  if (!m) {
    process.stderr.write(`fake ssh: cannot read a socket from '${remote}'\n`);
    process.exit(255);
  }
  const sock = net.createConnection(m[1]!.replace(/^'|'$/g, ''));
  sock.on('error', (e) => {
    process.stderr.write(`fake ssh: ${e.message}\n`);
    process.exit(255);
  });
  process.stdin.pipe(sock);
  sock.pipe(process.stdout);
  sock.on('close', () => process.exit(0));
  process.stdin.on('end', () => sock.end());
}
