"""The table the operator benchmark prints (bench/operator_bench.py) for one run or for the median
of its runs: one row per measure, each phase followed by what it cost (CPU and peak RSS of the
operator's process tree, API requests, load average). Values a median left out show as "-"."""

from __future__ import annotations

import argparse
from typing import Any

from bench.single_changes import KINDS, percentile


def fmt(value: Any, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
    if not isinstance(value, (int, float)) or value != value:  # absent or NaN
        return "-"
    return f"{value * scale:.{digits}f}{' ' + unit if unit else ''}"


def rows(result: dict, args: argparse.Namespace) -> list[tuple[str, str]]:
    """The table of a run or of the median of runs."""
    table: list[tuple[str, str]] = [("Performers", str(args.count))] if args.count else []
    floor, operator = result.get("floor", {}), result.get("operator", {})
    contract = result.get("contract_floor", {})
    ratio = result.get("operator_over_floor", {})
    over_contract = result.get("operator_over_contract_floor", {})
    contract_ratio = result.get("contract_floor_over_floor", {})
    status = result.get("status_floor", {})
    over_status = result.get("operator_over_status_floor", {})
    status_ratio = result.get("status_floor_over_floor", {})

    def pair(
        phase: dict, first: str, second: str, unit: str = "s", scale: float = 1.0, digits: int = 2
    ) -> str:
        return f"{fmt(phase.get(first), unit, scale, digits)} / {fmt(phase.get(second), unit, scale, digits)}"

    def costs(label: str, phase: dict, per: str) -> list[tuple[str, str]]:
        lines = []
        if "tree_cpu_s" in phase:
            lines.append(
                (
                    f"  {label}: CPU whole tree (per {per}) / peak RSS / PSS whole tree",
                    f"{fmt(phase['tree_cpu_s'])} ({fmt(phase.get('tree_cpu_ms_per_object'), 'ms', digits=1)})"
                    f" / {fmt(phase.get('tree_peak_rss_mb'), 'MB', digits=0)}"
                    f" / {fmt(phase.get('tree_peak_pss_mb'), 'MB', digits=0)}",
                )
            )
        if "control_plane_cpu_s" in phase:
            used = phase["control_plane_cpu_s"]
            per_object = fmt(phase.get("control_plane_cpu_ms_per_object"), "ms", digits=1)
            components = ", ".join(f"{component} {seconds:.1f}" for component, seconds in used.items())
            lines.append(
                (
                    f"  {label}: control plane CPU (per {per}), by component",
                    f"{fmt(sum(used.values()))} ({per_object}): {components}",
                )
            )
        lines.append(
            (
                f"  {label}: API requests (per {per})",
                f"{fmt(phase.get('api_requests'), '', digits=0)}"
                f" ({fmt(phase.get('api_requests_per_object'), '', digits=1)})",
            )
        )
        load = phase.get("load_average_1m_start_end") or []
        if len(load) == 2:
            lines.append((f"  {label}: load average 1 min, start -> end", f"{load[0]:.1f} -> {load[1]:.1f}"))
        return lines

    if floor:
        table.append(
            ("floor: N Pods+Services until all Ready", fmt(floor["create"]["all_ready_s"], digits=1))
        )
        table += costs("create", floor["create"], "pair")
        table.append(("floor: delete all until all gone", fmt(floor["delete"]["all_gone_s"], digits=1)))
        table += costs("delete", floor["delete"], "pair")
    if contract:
        table += [
            (
                "contract floor: N Performers, Pods, Services until all Ready",
                fmt(contract["create"]["all_ready_s"], digits=1),
            ),
            ("  contract floor / floor", fmt(contract_ratio.get("all_ready"), "x")),
        ]
        table += costs("create", contract["create"], "Performer")
        table += [
            ("contract floor: delete all until all gone", fmt(contract["delete"]["all_gone_s"], digits=1)),
            ("  contract floor / floor: all gone", fmt(contract_ratio.get("all_gone"), "x")),
        ]
        table += costs("delete", contract["delete"], "Performer")
    if status:
        table += [
            ("status floor: N Performers until all ready", fmt(status["create"]["all_ready_s"], digits=1)),
            ("  status floor / floor", fmt(status_ratio.get("all_ready"), "x")),
        ]
        table += costs("create", status["create"], "Performer")
        gone = status["delete"]
        table += [
            ("status floor: delete all until children gone", fmt(gone["all_gone_s"], digits=1)),
            ("  status floor: until the Performers are gone", fmt(gone["performers_gone_s"], digits=1)),
            ("  status floor / floor: children gone", fmt(status_ratio.get("all_gone"), "x")),
        ]
        table += costs("delete", status["delete"], "Performer")
    if "create" in operator:
        create = operator["create"]
        table += [
            ("operator: all Performers ready", fmt(create["all_ready_s"], digits=1)),
            ("  operator / floor", fmt(ratio.get("all_ready"), "x")),
            ("  operator / contract floor", fmt(over_contract.get("all_ready"), "x")),
            ("  operator / status floor", fmt(over_status.get("all_ready"), "x")),
            ("  create -> ready p50 / p95", pair(create, "create_to_ready_p50_s", "create_to_ready_p95_s")),
            (
                "  pod Ready -> status.ready p50 / p95, at creation",
                pair(create, "pod_ready_to_status_ready_p50_s", "pod_ready_to_status_ready_p95_s"),
            ),
        ]
        table += costs("create", create, "Performer")
    if "changes" in operator:
        changes = operator["changes"]
        table += [
            (
                "pod Ready -> status.ready p50 / p95, steady",
                pair(
                    changes,
                    "steady_pod_ready_to_status_ready_p50_s",
                    "steady_pod_ready_to_status_ready_p95_s",
                    "ms",
                    1000,
                    0,
                ),
            ),
            (
                f"spec change -> new pod p50 / p95 ({fmt(changes['spec_changes_completed'], '', digits=0)})",
                pair(changes, "spec_change_to_new_pod_p50_s", "spec_change_to_new_pod_p95_s"),
            ),
            (
                "  p50: old pod deleted / gone / new pod / bound / Ready / Performer ready",
                " / ".join(fmt(v) for v in changes.get("spec_change_steps_p50_s", {}).values()) or "-",
            ),
            (
                "  new pods deleted by another client and made again",
                fmt(changes.get("spec_change_pods_made_again"), "", digits=0),
            ),
        ]
        table += costs("changes", changes, "change")
    if "drift" in operator:
        d = operator["drift"]
        table.append(
            (
                "drift -> repaired p50 / p95 / max",
                f"{pair(d, 'drift_repair_p50_s', 'drift_repair_p95_s')} / {fmt(d['drift_repair_max_s'])}",
            )
        )
        for case, seconds in (d.get("drift_repair_s") or {}).items():
            if seconds:  # none with --drift-rounds 0
                table.append(
                    (f"  {case} p50 / max", f"{fmt(percentile(seconds, 0.5))} / {fmt(max(seconds))}")
                )
        table += costs("drift", d, "tampering")
    if "delete" in operator:
        delete = operator["delete"]
        table += [
            ("operator: delete all until children gone", fmt(delete["children_gone_s"], digits=1)),
            ("  until the Performers are gone", fmt(delete["performers_gone_s"], digits=1)),
            (
                "  operator / floor: children / Performers",
                f"{fmt(ratio.get('children_gone'), 'x')} / {fmt(ratio.get('performers_gone'), 'x')}",
            ),
            (
                "  operator / contract floor: children / Performers",
                f"{fmt(over_contract.get('children_gone'), 'x')}"
                f" / {fmt(over_contract.get('performers_gone'), 'x')}",
            ),
            (
                "  operator / status floor: children / Performers",
                f"{fmt(over_status.get('children_gone'), 'x')}"
                f" / {fmt(over_status.get('performers_gone'), 'x')}",
            ),
        ]
        table += costs("delete", delete, "Performer")
    if operator:
        table += [
            ("ansible runs / module calls", pair(operator, "ansible_runs", "module_calls", "", digits=0)),
            ("status patches without ansible", fmt(operator.get("status_syncs_patched"), "", digits=0)),
            (
                "peak RSS: operator process / whole tree; whole tree PSS",
                f"{fmt(operator.get('operator_peak_rss_mb'), 'MB', digits=0)}"
                f" / {fmt(operator.get('tree_peak_rss_mb'), 'MB', digits=0)}"
                f"; {fmt(operator.get('tree_peak_pss_mb'), 'MB', digits=0)}",
            ),
        ]
    single = result.get("single_changes")
    if single:
        for kind in KINDS:
            table.append(
                (
                    f"single changes: {kind.replace('_', ' ')} p50 / p95",
                    pair(single, f"{kind}_p50_s", f"{kind}_p95_s"),
                )
            )
        table += costs("single changes", single, "round")
    return table


def print_table(title: str, table: list[tuple[str, str]]) -> None:
    width = max((len(r[0]) for r in table), default=7)
    print(f"\n{title}\n{'measure':<{width}}  value")
    for name, value in table:
        print(f"{name:<{width}}  {value}")
