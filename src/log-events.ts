/**
 * Log events are a contract. Every structured log line unicorn-ts writes carries one of these names in
 * its `event` field; tests wait on them and operators alert on them. `docs/logging.md` is generated
 * from this table. Add events here; never rename one without a CHANGELOG entry.
 */

export const LOG_EVENTS = {
  'master.starting': 'The master is starting: version, pid, the resolved worker class and count.',
  'master.listening': 'A listening socket is bound and owned by the master (`Listening at: URL`).',
  'master.queueing':
    'The listening sockets queue connections from now on, before any worker is ready (debug); at warn level, why they could not (they then refuse connections until the first worker is ready).',
  'master.ready': 'The first full set of workers is ready; the whenReady hook runs next.',
  'master.stopping': 'The master began a graceful or quick stop (`Shutting down`).',
  'master.stopped': 'The master is about to exit; carries the exit code.',
  'master.accept_failed':
    '--sticky: the master could not accept a connection (EMFILE: raise ulimit -n); carries errorCode (at most one line a second).',
  'master.app_warning':
    'At start, something about the app will not work as written: a TypeScript app whose nearest tsconfig.json sets emitDecoratorMetadata, which type stripping and tsx cannot emit (carries warning).',
  'master.halt': 'The master stops because workers cannot boot (app load error, exit 4; boot error, exit 3).',
  'master.reexec':
    'USR2: a new master was started with the listening sockets, or it failed (carries newMasterPid).',
  'control.listening':
    'The control socket is ready for `unicorn-ts status` and the other commands (carries path).',
  'control.command':
    'A command arrived on the control socket (reload, scale, stop, reopen-logs; status is not logged); carries cmd.',
  'control.failed':
    'The control socket could not be created at its default location (the server runs without it), or failed later; carries path.',
  'master.shell_parent':
    'Started by an npm script through a shell that does not pass TERM or HUP on (`sh -c`, no `exec`), with no terminal: a stop sent to npm will not drain this master. Carries shell, shellPid and script.',
  'master.pid1':
    'The master runs as PID 1 (a container without an init): it reaps its workers, but not orphaned subprocesses of the app.',
  'systemd.notify_failed':
    'A message for systemd (READY=1, RELOADING=1, STOPPING=1, MAINPID=, STATUS=) could not be sent to $NOTIFY_SOCKET, most often because systemd-notify is not installed (logged once per master; carries socket, message, errorCode).',
  'signal.received': 'The master took a signal off its queue (`Handling signal: term`).',
  'signal.ignored': 'A signal arrived that the master does not act on in its current state.',
  'hook.error': 'A server hook threw or rejected; carries the hook name.',
  'worker.booting': 'The master forked a worker (`Booting worker with pid: N`).',
  'worker.app_loaded': 'A worker imported the app; carries the interface in use (fetch or node).',
  'worker.standby': 'A spare worker (--standby) has loaded the app and waits, holding no sockets.',
  'worker.promoted': 'A standby worker takes the place of one that left; it gets the sockets now.',
  'worker.ready': 'A worker is listening on every socket and accepting requests.',
  'worker.boot_failed': 'A worker exited before it became ready; carries the exit code and reason.',
  'worker.exiting': 'A worker began to stop; carries the reason (signal, max-requests, uncaught error...).',
  'worker.orphaned':
    'The master went away without stopping this worker (kill -9, the OOM killer): it finishes the requests in flight (carries inflight), bounded by --graceful-timeout, then exits.',
  'worker.killed':
    'A stopping worker outlived its grace (--graceful-timeout; 2 s after a quick stop; 1 s after SIGABRT) and is sent SIGKILL. Carries what the kill cuts, as of its last heartbeat: inflight, streaming (responses whose head was sent, not yet finished), websockets, connections (the last three null if it never reported during its drain), request and requestAgeSeconds (the oldest request in flight), heartbeatAgeSeconds, and reason (why it was stopping).',
  'worker.exited':
    'The master reaped a worker; carries exit code or signal, and a hint when abnormal. At warn level for a worker that stopped on a TERM, INT or QUIT sent to it from outside the master (an operator, a `pkill`): it is replaced, and not counted as a crash.',
  'worker.boot_timeout':
    'A worker did not become ready within --boot-timeout and is being killed (a boot failure).',
  'worker.timeout':
    'A worker stopped sending heartbeats for longer than --timeout and is being killed; with --timeout-stack, `stack` lists where its JavaScript was stuck (innermost first).',
  'worker.stack_probe':
    'A worker could not start its stack probe thread; timeouts will be logged without a stack.',
  'worker.heartbeat_failed':
    "A worker could not measure its memory or send its heartbeat (EMFILE when the app holds every file descriptor): the worker's own trouble, not an app error; carries what and errorCode (at most one line in 10 s).",
  'worker.backoff': 'Workers keep dying soon after boot; the next spawn waits this long.',
  'worker.spawn_failed':
    'The system refused to fork a worker (EMFILE, ENFILE: out of file descriptors; EAGAIN: out of processes; ENOMEM); the master serves on with the workers it has and tries again after delayMs (100 ms, doubling up to 30 s). Carries errorCode, failures, delayMs.',
  'worker.uncaught':
    'An error escaped the app (uncaught exception or unhandled rejection); the worker retires.',
  'worker.listen_refused':
    "A ready worker refused a listen() of the app's own (UNICORN_APP_LISTENS, carries code and hint): the call threw, nothing was bound, and the worker serves on. While a worker boots, the same refusal fails the boot (worker.boot_failed).",
  'worker.retire': 'The master asked a worker to stop after its replacement is ready.',
  'workers.count': 'The number of workers the master keeps changed.',
  'request.error': 'The app threw or rejected while handling a request; the client got a 500.',
  'request.timeout': 'A request ran longer than --request-timeout.',
  'request.shed':
    'A request was answered 503 because the worker was at --worker-connections (at most one line a second).',
  'request.bad': 'A malformed request was refused before it reached the app.',
  'request.body_timeout':
    'No piece of a request body arrived for --body-timeout; the client got 408 (or the connection was cut) and the body stream failed.',
  'websocket.protocol':
    "A WebSocket peer broke the protocol or a limit, which closed its connection: a message over --ws-max-message (1009), a malformed frame (1002, 1007), a refused handshake, or no pong to a --ws-ping-interval ping (terminated); carries reason. The client's doing, so info level at most.",
  'websocket.error':
    "A fetch app's WebSocket event handler threw (that connection is closed with 1011), or a send failed.",
  'websocket.going_away':
    'A stopping worker closes its open WebSockets with 1001 (going away) after --ws-drain-grace; carries count.',
  'proxy.rejected':
    'With --proxy-protocol, a connection was closed unserved: its peer is not in --proxy-allow-from, its PROXY header was malformed or late, or it left before sending one (carries reason and peer).',
  'reload.started':
    'A HUP reload began: the configuration was re-read and new workers are starting. With --reload, also logged once the watcher is ready (`paths`, `include`, `exclude`) and when changed files start a reload (`files`, and `file`, the last of them).',
  'reload.done': 'Every worker from before the reload has exited; carries the duration.',
  'reload.failed':
    'A reload could not be applied (bad config, or new workers failed to boot); the old workers serve on. With --reload, also (at warn level) when watching files failed, so changes may be missed.',
  'metrics.listening':
    'The master serves /metrics, /healthz and /readyz at `url` (--metrics-bind); at warn level after a USR2 upgrade, while the old master still holds the address (`waiting`, `url` null; it is taken over once free), and at error level if taking it over failed.',
  'metrics.connections_full':
    '--metrics-bind holds as many connections as it takes (carries limit: 64); newer ones are closed at once until some end. At most one line a minute.',
  'worker.output':
    'With --capture-output, one line the app wrote to standard output (info) or standard error (warn) in a worker; `stream` says which. A line longer than 16 KiB, or text that has not ended its line by then, comes in 16 KiB pieces marked `partial: true` but the last.',
  'logs.reopened': 'Log files were reopened (USR1).',
  'logs.access_dropped':
    'A worker holds 16 MiB of access-log lines its file or pipe has not taken yet (a log collector that stopped reading, a hung file system), and drops lines past that; `dropped` counts them since the worker started. At most one line every 10 s.',
  'logs.failed':
    'A log file could not be reopened on USR1 (its directory was removed, no permission) or written: the file open before is kept and serving goes on; carries file and during (reopen or write).',
} as const;

export type LogEvent = keyof typeof LOG_EVENTS;
