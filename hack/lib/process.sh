# shellcheck shell=bash
# Background processes of the hack/ scripts (hack/demo.sh, hack/molecule/host.sh): pid files,
# stopping them, free ports. Sourced, not run; from the repository root (free_port uses .venv).

# running PID_FILE: the process named in PID_FILE is alive.
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_process PID_FILE NAME SECONDS: SIGTERM, then wait for the exit (SIGKILL after SECONDS);
# removes PID_FILE and says on stderr what it stopped.
stop_process() {
  if running "$1"; then
    local pid waited=0
    pid=$(cat "$1")
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$(($3 * 10))" ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped the $2 (pid $pid)" >&2
  fi
  rm -f "$1"
}

# free_port: a TCP port on 127.0.0.1 that is free now.
free_port() { .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
