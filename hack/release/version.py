"""The release version: `VERSION` at the repository root is its one source, and this script writes
it into every file that has to spell it out (the packages' pyproject.toml, the collection's
galaxy.yml, every chart's Chart.yaml, the images' OCI labels, the default image references of the
manifests and roles, the OLM bundle through hack/bundle/generate.py).

    python hack/release/version.py            # print the version
    python hack/release/version.py --check    # exit 1 naming every place that disagrees (make lint)
    python hack/release/version.py --set 0.2.0  # write a new version everywhere

At run time the packages read their own version from their installed metadata
(`hourglass_operator.__version__`, `hourglass_executor.__version__`); tests/unit/test_version.py
checks that every place, the metadata included, agrees with VERSION.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERSION_FILE = REPO / "VERSION"
# Semantic Versioning 2.0 (a pre-release such as 0.2.0-rc.1 is allowed; Helm and Galaxy require it).
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?")
IMAGE = r"ghcr\.io/hourglass-operator/(?:operator|executor|echo-performer):"


@dataclass(frozen=True)
class Place:
    """One spelling of the version: in `path`, group 2 of `pattern` is the version (groups 1 and 3
    the text around it); every match must say the version, and there must be one."""

    path: str
    pattern: str
    what: str

    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.MULTILINE)


def places() -> list[Place]:
    """Every place in the repository that states the version. Charts are found by directory, so a
    new chart under charts/ is covered without a change here."""
    fixed = [
        Place("pyproject.toml", r'^(version = ")([^"]+)(")', "the operator package's version"),
        Place("executor/pyproject.toml", r'^(version = ")([^"]+)(")', "the executor package's version"),
        Place("galaxy.yml", r"^(version: )(\S+)()$", "the Ansible collection's version"),
        Place(
            "Dockerfile",
            r'^(LABEL org\.opencontainers\.image\.version=")([^"]+)(")',
            "the operator image's OCI label",
        ),
        Place(
            "executor/Dockerfile",
            r'^(LABEL org\.opencontainers\.image\.version=")([^"]+)(")',
            "the executor image's OCI label",
        ),
        Place(
            "executor/examples/echo_performer/Dockerfile",
            r'^(LABEL org\.opencontainers\.image\.version=")([^"]+)(")',
            "the echo performer image's OCI label",
        ),
        Place("config/manager/manager.yaml", rf"^(\s+image: {IMAGE})(\S+)()$", "the Deployment's image"),
        Place("config/default/kustomization.yaml", r"^(\s+newTag: )(\S+)()$", "kustomize's image tag"),
        Place("roles/operator/defaults/main.yml", rf"^(operator_image: {IMAGE})(\S+)()$", "operator_image"),
        Place(
            "roles/operator/meta/argument_specs.yml",
            rf"^(\s+default: {IMAGE})(\S+)()$",
            "operator_image's documented default",
        ),
        Place("roles/executor/defaults/main.yml", rf"^(executor_image: {IMAGE})(\S+)()$", "executor_image"),
    ]
    charts = []
    for chart in sorted((REPO / "charts").glob("*/Chart.yaml")):
        rel = chart.relative_to(REPO).as_posix()
        charts.append(Place(rel, r"^(version: )(\S+)()$", "the chart's version"))
        charts.append(Place(rel, r'^(appVersion: "?)([^"\s]+)("?)$', "the chart's appVersion"))
    return fixed + charts


def read_version() -> str:
    version = VERSION_FILE.read_text().strip()
    if not SEMVER.fullmatch(version):
        raise ValueError(f"VERSION: {version!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRE])")
    return version


def disagreements(version: str) -> list[str]:
    """One line per place that does not say `version` (or where the version cannot be found)."""
    problems = []
    for place in places():
        text = (REPO / place.path).read_text()
        found = [m.group(2) for m in place.regex().finditer(text)]
        if not found:
            problems.append(f"{place.path}: {place.what} not found (pattern {place.pattern})")
        problems += [
            f"{place.path}: {place.what} is {v}, VERSION is {version}" for v in found if v != version
        ]
    return problems


def write(version: str) -> list[str]:
    """Writes `version` into VERSION and every place; returns the files it changed."""
    changed = []
    if VERSION_FILE.read_text().strip() != version:
        VERSION_FILE.write_text(version + "\n")
        changed.append("VERSION")
    for place in places():
        path = REPO / place.path
        text = path.read_text()
        new = place.regex().sub(lambda m: m.group(1) + version + m.group(3), text)
        if new != text:
            path.write_text(new)
            changed.append(place.path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="exit 1 when a place disagrees with VERSION")
    action.add_argument("--set", metavar="VERSION", help="write this version everywhere")
    args = parser.parse_args(argv)
    if args.set is not None:
        if not SEMVER.fullmatch(args.set):
            print(f"--set: {args.set!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRE])", file=sys.stderr)
            return 2
        for name in write(args.set):
            print(f"wrote {name}")
        print("now run `python hack/bundle/generate.py` and add a CHANGELOG.md section")
        return 0
    try:
        version = read_version()
    except ValueError as err:
        print(err, file=sys.stderr)
        return 1
    if args.check:
        problems = disagreements(version)
        if problems:
            print(
                "the version is not the same everywhere; run `python hack/release/version.py --set "
                f"{version}`:\n  " + "\n  ".join(problems),
                file=sys.stderr,
            )
            return 1
        return 0
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
