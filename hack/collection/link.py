"""Makes this checkout the Ansible collection hourglass.operator of the running Python: links it as
<site-packages>/ansible_collections/hourglass/operator (`make venv` runs it with the venv's Python).

Ansible scans sys.path for ansible_collections, so ansible-playbook, ansible-doc, molecule and the
runner loop's ansible-runner find the collection from any directory, and Python imports its
module_utils as `ansible_collections.hourglass.operator.plugins.module_utils...` (how
hourglass_operator reads the Performer contract). Idempotent; an existing link to another checkout
is replaced. The operator image installs the built collection instead (Dockerfile).
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    link = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections" / "hourglass" / "operator"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.resolve() == REPO:
            return 0
        if not link.is_symlink():
            print(f"{link} exists and is not a link: remove it (an installed copy?)", file=sys.stderr)
            return 1
        link.unlink()
    link.symlink_to(REPO, target_is_directory=True)
    print(f"{link} -> {REPO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
