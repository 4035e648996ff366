"""Writes results.json, results.md (one Markdown table, tools side by side) and lag.svg (lag
over time per tool, drawn here: no plotting library needed)."""
import json
import math
import os
from xml.sax.saxutils import escape

TOOLS = ("none", "mmsync", "bucardo", "pglogical")
COLORS = {"mmsync": "#1f6fb4", "bucardo": "#d62728", "pglogical": "#2a9d3a"}


def write(results, out):
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(markdown(results))
    with open(os.path.join(out, "lag.svg"), "w") as f:
        f.write(svg(results))
    for tool in COLORS:
        if any(get(results, "tools", tool, "lag", str(r), "series") for r in results["config"]["lag_rates"]):
            with open(os.path.join(out, f"lag-{tool}.svg"), "w") as f:
                f.write(svg(results, [tool]))


# ---------------------------------------------------------------- Markdown

def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or d.get(p) is None:
            return None
        d = d[p]
    return d


def num(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def none_runs(results, script, key="tps"):
    """Every TPS figure (or another figure of a run, key) without replication for a script: the
    none tool's own runs (start and end of the run) and those interleaved with each other tool's runs."""
    vals = [get(results, "tools", "none", k, script, "no_replication", key) for k in ("tps", "tps_end")]
    for t in TOOLS[1:]:
        vals += [x.get(key) for x in get(results, "tools", t, "tps", script, "runs") or [] if x["kind"] == "none"]
    return [v for v in vals if v]


def cpu_tx_cell(results, tool, script, mode):
    """Server CPU per transaction of pgbench's backends; the tool's as none's ÷ its own (what TPS
    would be, were the server CPU-bound), against the bracketing runs without replication."""
    if tool == "none":
        vals = sorted(none_runs(results, script, "server_cpu_us"))
        return f"{num(vals[len(vals) // 2], 1)} µs (median of {len(vals)} runs)" if vals else "–"
    r = get(results, "tools", tool, "tps", script, mode)
    if not r or r.get("server_cpu_us") is None:
        return "–"
    return f"{num(r['server_cpu_us'], 1)} µs ({r['cpu_ratio']:.2f}×)" if r.get("cpu_ratio") else f"{num(r['server_cpu_us'], 1)} µs"


def tps_cell(results, tool, script, mode):
    if tool == "none":
        vals = sorted(none_runs(results, script))
        if not vals:
            return "–"
        return f"{num(vals[len(vals) // 2])} (median of {len(vals)} runs, {num(vals[0])}–{num(vals[-1])})"
    r = get(results, "tools", tool, "tps", script, mode)
    if not r or r.get("tps") is None:
        return "–"
    return f"{num(r['tps'])} ({r['ratio']:.2f}×)" if r.get("ratio") else num(r["tps"])


def lag_mid_cell(results, tool, rate):
    r = get(results, "tools", tool, "lag", str(rate))
    if not r or r.get("p50_mid_ms") is None:
        return "–"
    return f"{num(r['p50_mid_ms'], 1)} / {num(r['p99_mid_ms'], 1)}"


def lag_cell(results, tool, rate):
    r = get(results, "tools", tool, "lag", str(rate))
    if not r:
        return "–"
    cell = f"{num(r['p50_ms'], 1)} / {num(r['p99_ms'], 1)} / {num(r['max_ms'], 1)}"
    if r.get("undelivered"):
        cell += f" ({r['undelivered']} rows not delivered)"
    if r.get("achieved_rate") and r["achieved_rate"] < 0.9 * rate:
        cell += f" (blue reached only {num(r['achieved_rate'])}/s)"
    return cell


def catchup_cell(results, tool, n, kind):
    r = get(results, "tools", tool, "catchup", str(n), kind)
    if not r:
        return "–"
    if r.get("timed_out"):
        return f"timed out: {num(r['delivered'])} rows in {r.get('timeout_s', '?')} s " \
               f"({num(r.get('partial_rows_per_s'))}/s)"
    cell = f"{num(r['rows_per_s'])}/s ({r['drain_s']:.1f} s"
    if r.get("first_row_s") is not None:
        cell += f", first row {r['first_row_s']:.2f} s"
    cell += ")"
    ceiling = ceiling_rate(results, n)
    if ceiling and r.get("rows_per_s"):
        cell += f", {r['rows_per_s'] / ceiling:.0%} of COPY"
    return cell


def ceiling_rate(results, n):
    """Rows/s of the COPY ceiling for n rows (older results.json kept it under the none tool)."""
    return get(results, "ceiling", str(n), "rows_per_s") or get(results, "tools", "none", "ceiling", str(n), "rows_per_s")


def rss_cell(results, tool):
    peaks, sampled = [], []
    for n, kinds in (get(results, "tools", tool, "catchup") or {}).items():
        for kind, r in (kinds or {}).items():
            if r and r.get("peak_rss_kb"):
                peaks.append(r["peak_rss_kb"])
            if r and r.get("sampled_peak_rss_kb"):
                sampled.append(r["sampled_peak_rss_kb"])
    if tool == "mmsync" and peaks:
        blue = max((p.get("agent_blue") or 0) for p in peaks)
        green = max((p.get("agent_green") or 0) for p in peaks)
        return f"sender (blue agent) {blue / 1024:.0f} MB; green agent {green / 1024:.0f} MB (VmHWM)"
    if tool == "bucardo" and sampled:
        return f"{max(sampled) / 1024:.0f} MB (all Bucardo processes, sampled VmRSS sum)"
    if tool == "pglogical" and get(results, "tools", tool, "catchup"):
        return "n/a (runs inside the servers)"
    return "–"


def cpu_cell(results, tool):
    """CPU seconds per 100,000 changes in each catch-up of the largest size: sending agent, the
    peer's apply backend and the origin's read backend (mmsync; other tools: not measured)."""
    sizes = sorted(int(n) for n in (get(results, "tools", tool, "catchup") or {}))
    if not sizes:
        return "–"
    n = sizes[-1]
    parts = []
    for kind, label in (("one_tx", "one tx"), ("small_tx", "small tx")):
        cpu = get(results, "tools", tool, "catchup", str(n), kind, "cpu_s") or {}
        if not cpu:
            continue
        per = {k: v * 100000 / n for k, v in cpu.items()}
        parts.append(f"{label}: agent {per.get('agent_blue', 0):.2f}, peer backend {per.get('peer_backend', 0):.2f}, "
                     f"origin backend {per.get('origin_backend', 0):.2f}")
    return "; ".join(parts) if parts else ("n/a (not measured)" if tool != "none" else "")


def twoway_cell(results, tool):
    r = get(results, "tools", tool, "twoway")
    if not r:
        return "–"
    tx = sum(v or 0 for v in r["transactions"].values())
    conflicts = {}
    for by_res in (r.get("conflicts") or {}).values():
        for res, n in (by_res or {}).items():
            conflicts[res] = conflicts.get(res, 0) + n
    seen = f"; conflicts {', '.join(f'{k} {num(v)}' for k, v in sorted(conflicts.items()))}" if conflicts else ""
    if r["exact"]:
        return f"exact ({num(tx)} tx, nodes identical{seen})"
    parts = []
    for node in ("blue", "green"):
        a = r["after"][node]
        parts.append(f"{node}: {a['branches_wrong']}/{a['branches']} branches, {a['tellers_wrong']}/{a['tellers']} "
                     f"tellers, {a['accounts_wrong']} accounts wrong, history {num(a['history_rows'])}/"
                     f"{num(r['history_expected'])}")
    parts.append("nodes identical" if r["nodes_identical"] else
                 "nodes differ in " + ", ".join(r.get("tables_differing") or ["?"]))
    if None in r["drain_s"].values():
        parts.append("not drained")
    return f"WRONG ({num(tx)} tx): " + "; ".join(parts) + seen


def short(text, limit=160):
    """A table cell's worth of a long message (the whole of it is in results.json)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def markdown(results):
    cfg = results["config"]
    tools = [t for t in TOOLS if t in results["tools"]]
    rows = [("status", {t: short(results["tools"][t].get("status", "–")) for t in tools})]
    for script, label in (("simple_update", "-N"), ("tpcb", "TPC-B")):
        for mode, mlabel in (("capture_only", "capture only (sync paused)"), ("sync_running", "sync running")):
            rows.append((f"TPS {label}, {mlabel}; × none", {t: tps_cell(results, t, script, mode) for t in tools}))
        rows.append((f"server CPU per {label} transaction (pgbench's backends), capture only; none ÷ tool",
                     {t: cpu_tx_cell(results, t, script, "capture_only") for t in tools}))
    for rate in cfg["lag_rates"]:
        rows.append((f"lag at {rate} commits/s: p50 / p99 / max ms",
                     {t: lag_cell(results, t, rate) if t != "none" else "" for t in tools}))
    for rate in cfg["lag_rates"]:
        rows.append((f"lag at {rate} commits/s, mid-interval: p50 / p99 ms",
                     {t: lag_mid_cell(results, t, rate) if t != "none" else "" for t in tools}))
    for n in cfg["catchup_sizes"]:
        for kind, label in (("one_tx", "one transaction"), ("small_tx", f"{cfg['small_tx_rows']}-row transactions")):
            rows.append((f"catch-up {num(n)} rows, {label}", {t: catchup_cell(results, t, n, kind) for t in tools}))
        rows[-2][1]["none"] = rows[-1][1]["none"] = ""
        c = ceiling_rate(results, n)
        rows.append((f"COPY ceiling, {num(n)} rows into green (same machine, no tool)",
                     {t: (f"{num(c)}/s" if c else "–") if k == 0 else "" for k, t in enumerate(tools)}))
    rows.append(("peak RSS during catch-up", {t: rss_cell(results, t) if t != "none" else "" for t in tools}))
    rows.append(("CPU s per 100,000 changes in catch-up (largest size)",
                 {t: cpu_cell(results, t) if t != "none" else "" for t in tools}))
    rows.append(("two-way TPC-B on both nodes: balances", {t: twoway_cell(results, t) if t != "none" else ""
                                                            for t in tools}))
    rows.append(("seconds spent: setup + measuring (its budget)", {
        t: f"{num(results['tools'][t].get('setup_s'))} + {num(results['tools'][t].get('measure_s'))}"
           f" ({num(results['tools'][t].get('budget_s'))})" for t in tools}))
    h = results.get("host", {})
    lines = [
        f"# mmsync benchmark ({results['mode']}), {results['started']}",
        "",
        f"Machine: {h.get('cpus')} CPUs, {h.get('memory')}, {h.get('postgres')}, {h.get('java')}; "
        f"Bucardo {h.get('bucardo') or '–'}, pglogical {h.get('pglogical') or '–'}. "
        f"Two clusters on this one machine, fsync={cfg['fsync']}; pgbench scale {cfg['scale']}, 4 clients; "
        f"TPS runs {cfg['tps_seconds']} s × {cfg['tps_rounds']} round(s), lag runs {cfg['lag_seconds']} s, two-way {cfg['twoway_seconds']} s. "
        f"Run took {results.get('duration_s', '?')} s. How each figure is taken: bench/README.md.",
        "",
        "| measure | " + " | ".join(tools) + " |",
        "|---|" + "---|" * len(tools),
    ]
    for label, cells in rows:
        lines.append(f"| {label} | " + " | ".join(str(cells.get(t, "–")).replace("|", "/") for t in tools) + " |")
    lines += ["", "TPS ratios (×): each run against the mean of the runs without replication made just before and "
              "just after it (the machine is shared and its speed drifts); median over "
              f"{cfg['tps_rounds']} round(s). "
              "Lag is an upper bound to within one poll interval "
              + ", ".join(f"({t}: {num(get(results, 'tools', t, 'lag', str(cfg['lag_rates'][0]), 'poll_interval_ms'), 1)} ms)"
                          for t in tools if t != "none")
              + "; the mid-interval rows place each row in the middle of the interval between the poll "
              "that first saw it and the one before (the same rows, without half a poll of the poller's "
              "own granularity). Plot: lag.svg.", ""]
    for t in tools:
        r = results["tools"][t]
        extra = [("note", x) for x in r.get("notes", [])] + [("error", x) for x in r.get("errors", [])] \
            + [("skipped (time budget used up)", x) for x in r.get("skipped", [])] \
            + [("log", x) for x in r.get("findings", [])]
        if extra:
            lines.append(f"### {t}")
            lines += [f"- {kind}: `{text}`" if kind == "log" else f"- {kind}: {text}" for kind, text in extra]
            lines.append("")
    if results.get("interrupted"):
        lines.append("**The run was interrupted; figures are incomplete.**")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- SVG

def svg(results, only=None):
    """One panel per commit rate; a line per tool (all of them, or those in only)."""
    rates = results["config"]["lag_rates"]
    series = {t: {str(r): get(results, "tools", t, "lag", str(r), "series") or [] for r in rates}
              for t in COLORS if t in results["tools"] and (only is None or t in only)}
    W, PH, ML, MR, MT, MB = 920, 300, 70, 150, 40, 45
    H = len(rates) * PH + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">', f'<rect width="{W}" height="{H}" fill="white"/>']
    for i, rate in enumerate(rates):
        y0 = i * PH
        pts = [p for t in series for p in series[t][str(rate)]]
        tmax = max([p[0] for p in pts] + [1.0])
        vmax = max([p[2] for p in pts if p[2]] + [10.0])
        lo, hi = 0, math.ceil(math.log10(vmax))  # 1 ms .. next power of ten
        pw, ph = W - ML - MR, PH - MT - MB

        def x(t):
            return ML + pw * t / tmax

        def y(v):
            v = min(max(v, 1.0), 10 ** hi)
            return y0 + MT + ph * (1 - (math.log10(v) - lo) / (hi - lo))
        out.append(f'<text x="{ML}" y="{y0 + 24}" font-size="14" font-weight="bold">{escape(", ".join(only) + ": ") if only else ""}'
                   f'Replication lag blue → green at {rate} commits/s (max per 250 ms, log scale; dashed: median)</text>')
        out.append(f'<rect x="{ML}" y="{y0 + MT}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
        for e in range(lo, hi + 1):
            yy = y(10 ** e)
            label = f"{10 ** e:g} ms" if e < 3 else f"{10 ** (e - 3):g} s"
            out.append(f'<line x1="{ML}" x2="{ML + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{ML - 6}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
        step = nice_step(tmax)
        t = 0.0
        while t <= tmax + 1e-9:
            out.append(f'<text x="{x(t):.1f}" y="{y0 + MT + ph + 16}" text-anchor="middle">{t:g}</text>')
            t += step
        out.append(f'<text x="{ML + pw / 2}" y="{y0 + MT + ph + 34}" text-anchor="middle">seconds since the '
                   f'first row was written</text>')
        for k, (tool, by_rate) in enumerate(series.items()):
            s = by_rate[str(rate)]
            color = COLORS[tool]
            if s:
                out.append(polyline([(x(p[0]), y(p[2])) for p in s if p[2] is not None], color, 1.6))
                out.append(polyline([(x(p[0]), y(p[1])) for p in s if p[1] is not None], color, 1, dash=True))
            ly = y0 + MT + 14 + 18 * k
            out.append(f'<line x1="{ML + pw + 12}" x2="{ML + pw + 32}" y1="{ly - 4}" y2="{ly - 4}" '
                       f'stroke="{color}" stroke-width="2"/>')
            label = tool if s else f"{tool} (no data)"
            out.append(f'<text x="{ML + pw + 38}" y="{ly}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def polyline(points, color, width, dash=False):
    d = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    extra = ' stroke-dasharray="4 3"' if dash else ""
    return f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}"{extra}/>'


def nice_step(span):
    for s in (1, 2, 5, 10, 20, 30, 60, 120, 300):
        if span / s <= 10:
            return s
    return 600
