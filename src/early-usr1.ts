/**
 * SIGUSR1 from the executable's first statement until the master's own listener. A Node process
 * that gets SIGUSR1 while it has no listener for it starts the inspector on 127.0.0.1:9229, where
 * any local user can run code as that process. The master installs its listener when it starts
 * (src/master/arbiter.ts), after the command line, the config file and the log files are loaded: a
 * logrotate in that window would open a debugger in the master. src/bin.ts holds the signal before
 * it loads anything else, and the master takes over what was held: a USR1 that came early reopens
 * the log files once the master runs, as it asked.
 *
 * What is left is Node's own bootstrap, before any JavaScript of the executable runs.
 */

let received = false;
const remember = (): void => {
  received = true;
};

export function holdUsr1(): void {
  process.on('SIGUSR1', remember);
}

/** Removes the hold; true when a USR1 came while it was on. Call it after installing the real listener. */
export function releaseUsr1(): boolean {
  process.off('SIGUSR1', remember);
  const came = received;
  received = false;
  return came;
}
