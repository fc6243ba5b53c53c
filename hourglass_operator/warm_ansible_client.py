"""The command ansible-runner starts for a run when the operator keeps a warm Ansible
(`warm_ansible`): it takes ansible-playbook's arguments, hands them with its environment, working
directory and standard streams to the warm server named in SOCKET_ENV, and exits with the run's exit
code. When no server answers it becomes a cold `ansible-playbook` (same arguments), so a run never
depends on the warm server being there. It imports nothing heavy: it starts for every run."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from hourglass_operator.warm_ansible import HEADER, SOCKET_ENV


def cold(argv: list[str]) -> None:
    executable = str(Path(sys.executable).with_name("ansible-playbook"))
    os.execv(executable, [executable, *argv])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = os.environ.get(SOCKET_ENV)
    if not path:
        cold(args)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        cold(args)
    request = json.dumps({"argv": ["ansible-playbook", *args], "env": dict(os.environ), "cwd": os.getcwd()})
    payload = request.encode()
    message = HEADER.pack(len(payload)) + payload
    sent = socket.send_fds(conn, [message[:65536]], [0, 1, 2])
    conn.sendall(message[sent:])
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            print("warm ansible: the server went away during the run", file=sys.stderr)
            return 250
        reply += chunk
    code = json.loads(reply)["exit"]
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
