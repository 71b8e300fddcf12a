/**
 * Private Linux network namespaces, for tests that need several machines: one namespace per "host",
 * and a "front" namespace joined to each host by a veth pair (front side 10.0.K.1/24, host side
 * 10.0.K.2/24, host K numbered from 1). Every address lives inside a namespace this file created,
 * so nothing is reachable from, or clashes with, the machine's own network or a concurrent run.
 * Namespaces are removed when the test file ends, whether it passed or not.
 */
import { spawnSync } from 'node:child_process';

/** Runs `ip` (iproute2) and throws with its stderr when it fails. */
function ip(...args: string[]): string {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.error) throw new Error(`ip ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: exit ${result.status}: ${result.stderr}`);
  return result.stdout;
}

const created = new Set<string>();

function removeAll(): void {
  for (const name of created) spawnSync('ip', ['netns', 'del', name]);
  created.clear();
}
process.once('exit', removeAll);

export interface Hosts {
  /** The namespace nginx and the clients run in. */
  readonly front: string;
  /** The hosts' namespaces, host K at index K-1. */
  readonly hosts: readonly string[];
  /** Host K's address (1-based), as the front namespace reaches it. */
  address(k: number): string;
  /** The command prefix that runs a program inside namespace `ns`. */
  exec(ns: string): string[];
  /** Deletes the namespaces (processes still inside must be stopped first). */
  remove(): void;
}

/**
 * Creates the front namespace and `count` host namespaces. Needs root (CAP_SYS_ADMIN and
 * CAP_NET_ADMIN) and iproute2; throws, naming what failed, when the machine refuses.
 */
export function createHosts(count: number): Hosts {
  const prefix = `uts${process.pid}`;
  const front = `${prefix}-front`;
  const hosts = Array.from({ length: count }, (_, i) => `${prefix}-h${i + 1}`);
  for (const ns of [front, ...hosts]) {
    ip('netns', 'add', ns);
    created.add(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  hosts.forEach((ns, i) => {
    const k = i + 1;
    // Both ends are created inside their namespaces: no interface name ever exists in the
    // machine's own namespace, where a concurrent run could clash with it.
    ip('link', 'add', 'name', `h${k}`, 'netns', front, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', front, 'addr', 'add', `10.0.${k}.1/24`, 'dev', `h${k}`);
    ip('-n', ns, 'addr', 'add', `10.0.${k}.2/24`, 'dev', 'eth0');
    ip('-n', front, 'link', 'set', `h${k}`, 'up');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
  });
  return {
    front,
    hosts,
    address: (k) => `10.0.${k}.2`,
    exec: (ns) => ['ip', 'netns', 'exec', ns],
    remove() {
      for (const ns of [front, ...hosts]) {
        spawnSync('ip', ['netns', 'del', ns]);
        created.delete(ns);
      }
    },
  };
}
