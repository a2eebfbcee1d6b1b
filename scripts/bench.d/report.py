#!/usr/bin/env python3
"""Results of scripts/bench: recorded as JSON lines, printed as tables, written into
the README.

usage:
  report.py record RESULTS key=value...     append one record (values are JSON when they
                                            parse as JSON, strings otherwise)
  report.py show RESULTS                     the tables, as text
  report.py readme RESULTS README NAME...    rewrite README's "## Benchmarks" section:
                                            one block per comparison NAME, in that order;
                                            a comparison measured in RESULTS gets a new
                                            block, the others keep the block they had

Records (field "type"):
  env   date, machine, runs, versions, load_start, load_end, seconds
  meta  name, title, metric, unit, digits, ref, sides [{name, command}], floor {side: n},
        floor_why, target {side, ref, max|min, text}, extras [{key, label, unit}],
        notes [text], pending (bool)
        moto_time (bool: show the seconds moto took to answer)
  run   name, side, run, value, rss_kb, extra {key: value},
        counts {calls: {operation: n}, seconds: {operation: seconds in moto}}
"""
import json
import re
import statistics
import sys

BEGIN = "<!-- bench:{} -->"
END = "<!-- /bench:{} -->"


def record(path, pairs):
    item = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            item[key] = json.loads(value)
        except ValueError:
            item[key] = value
    with open(path, "a") as f:
        f.write(json.dumps(item, sort_keys=True) + "\n")


def load(path):
    env, metas, runs = {}, {}, {}
    with open(path) as f:
        for line in f:
            item = json.loads(line)
            if item["type"] == "env":
                env.update(item)
            elif item["type"] == "meta":
                metas[item["name"]] = item
            elif item["type"] == "run":
                runs.setdefault(item["name"], {}).setdefault(item["side"], []).append(item)
    return env, metas, runs


def number(value, digits):
    return f"{value:.{digits}f}"


def memory(kb):
    return f"{kb / 1024:.0f} MB" if kb >= 10 * 1024 else f"{kb / 1024:.1f} MB"


def calls_of(run):
    return (run.get("counts") or {}).get("calls") or {}


def moto_seconds(run):
    return sum(((run.get("counts") or {}).get("seconds") or {}).values())


def summary(meta, runs):
    """Rows of one comparison: one dict per side, with its figures as text."""
    digits = meta.get("digits", 2)
    unit = meta["unit"]
    medians = {
        side: statistics.median(r["value"] for r in rows) for side, rows in runs.items()
    }
    rows = []
    for side in meta["sides"]:
        name = side["name"]
        these = runs.get(name, [])
        row = {"side": name, "command": side["command"]}
        if not these:
            row.update(value="not measured", range="", ratio="", rss="", calls="")
            rows.append(row)
            continue
        values = [r["value"] for r in these]
        row["value"] = f"{number(medians[name], digits)} {unit}"
        row["range"] = f"{number(min(values), digits)}-{number(max(values), digits)}"
        ref = meta.get("ref")
        if ref in medians and medians[ref] > 0:
            row["ratio"] = "1x" if name == ref else f"{medians[name] / medians[ref]:.2f}x"
        else:
            row["ratio"] = ""
        rss = [r["rss_kb"] for r in these if r.get("rss_kb")]
        row["rss"] = memory(max(rss)) if rss else "-"
        totals = sorted({sum(calls_of(r).values()) for r in these})
        floor = (meta.get("floor") or {}).get(name)
        made = "-".join(str(t) for t in (totals[0], totals[-1])) if len(totals) > 1 else str(totals[0])
        row["calls"] = made + (f" (floor {floor})" if floor is not None else "")
        row["breakdown"] = calls_of(these[-1])
        row["breakdown_seconds"] = (these[-1].get("counts") or {}).get("seconds") or {}
        if meta.get("moto_time"):
            row["moto"] = f"{statistics.median(moto_seconds(r) for r in these):.2f} s"
            row["own"] = f"{statistics.median(r['value'] - moto_seconds(r) for r in these):.2f} s"
        for extra in meta.get("extras", []):
            got = [r["extra"][extra["key"]] for r in these if extra["key"] in r.get("extra", {})]
            row[extra["key"]] = (
                f"{number(statistics.median(got), extra.get('digits', 2))} {extra['unit']}"
                if got else "-"
            )
        rows.append(row)
    verdict = ""
    target = meta.get("target")
    if target and target["side"] in medians and target["ref"] in medians:
        ratio = medians[target["side"]] / medians[target["ref"]]
        if "max" in target:
            met = ratio < target["max"]
        else:
            met = ratio >= target["min"]
        verdict = f"target: {target['text']}: {'met' if met else 'NOT met'} ({ratio:.2f}x)"
    return rows, verdict


def columns(meta):
    cols = [
        ("side", "side"),
        ("value", f"{meta['metric']} (median)"),
        ("range", "min-max"),
        ("ratio", f"vs {meta['ref']}"),
    ]
    cols += [(extra["key"], extra["label"] + " (median)") for extra in meta.get("extras", [])]
    if meta.get("moto_time"):
        cols += [("moto", "of which in moto (median)"), ("own", "the rest (median)")]
    cols += [("rss", meta.get("rss_label", "peak RSS")), ("calls", "AWS API calls")]
    return cols


def breakdown(row):
    calls, seconds = row.get("breakdown"), row.get("breakdown_seconds") or {}
    if not calls:
        return "none"
    return ", ".join(
        f"{op} {n}" + (f" ({seconds[op]:.2f} s)" if op in seconds else "")
        for op, n in sorted(calls.items())
    )


def show(path):
    env, metas, runs = load(path)
    for name, meta in metas.items():
        print(f"\n== {name}: {meta['title']}")
        if meta.get("pending"):
            for side in meta["sides"]:
                print(f"  {side['name']:<34} not yet measured")
            continue
        rows, verdict = summary(meta, runs.get(name, {}))
        cols = columns(meta)
        widths = [max(len(title), *(len(str(r.get(key, ""))) for r in rows)) for key, title in cols]
        print("  " + "  ".join(title.ljust(w) for (_, title), w in zip(cols, widths)))
        for row in rows:
            print("  " + "  ".join(str(row.get(key, "")).ljust(w) for (key, _), w in zip(cols, widths)))
        for row in rows:
            print(f"  {row['side']}: {row['command']}")
            if row.get("breakdown") is not None and row["calls"]:
                print(f"    calls (last run, seconds in moto): {breakdown(row)}")
        if meta.get("floor_why"):
            print(f"  floor: {meta['floor_why']}")
        if verdict:
            print(f"  {verdict}")
        for note in meta.get("notes", []):
            print(f"  note: {note}")
    if env:
        print(f"\n{env.get('runs')} counted runs per side after a warm-up; "
              f"{env.get('machine')}; load average {env.get('load_start')} at start, "
              f"{env.get('load_end')} at end; bench took {env.get('seconds', 0):.0f} s")


def counted(env, runs):
    """Counted runs per side of one comparison: --runs, or fewer where the
    comparison caps them (logs-follow)."""
    return min((len(rows) for rows in runs.values()), default=env.get("runs"))


def markdown_block(env, meta, runs):
    name = meta["name"]
    lines = [BEGIN.format(name), f"### {name}: {meta['title']}", ""]
    if meta.get("pending"):
        lines += ["| compared | target | result |", "|---|---|---|"]
        for side in meta["sides"]:
            lines.append(f"| {side['command']} | {side.get('target', '')} | not yet measured |")
        lines += ["", END.format(name)]
        return "\n".join(lines)
    rows, verdict = summary(meta, runs)
    cols = columns(meta)
    lines.append("| " + " | ".join(title for _, title in cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for row in rows:
        cells = [f"`{row['side']}`" if key == "side" else str(row.get(key, "")) for key, _ in cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for row in rows:
        lines.append(f"- `{row['side']}`: `{row['command']}`; calls of the last run"
                     f" (seconds moto took): {breakdown(row)}")
    if meta.get("floor_why"):
        lines.append(f"- floor: {meta['floor_why']}")
    if verdict:
        lines.append(f"- {verdict}")
    for note in meta.get("notes", []):
        lines.append(f"- {note}")
    lines += [
        "",
        f"Measured {env.get('date')}: {counted(env, runs)} counted runs per side, alternating, "
        f"after a warm-up of each; {env.get('machine')}; load average "
        f"{env.get('load_start')} at start, {env.get('load_end')} at end.",
        "",
        END.format(name),
    ]
    return "\n".join(lines)


INTRO = """## Benchmarks

`scripts/bench` measures stackup side by side with the tools it replaces
(README, "Benchmarks") on the local cloud, and rewrites this section with what it
measured. It builds stackup in release mode, installs the peers (`awscli`,
`ecs-deploy`, `awslogs`) in `.venv/peers`, starts the local cloud if it is not
running (and stops it again) plus a moto server of its own, and runs the sides of
each comparison alternately (A B A B ...) after a warm-up of each, resetting state
before every run. Each tool reaches moto through its own recording proxy
(`examples/bench_proxy.rs`), which counts the AWS API calls it makes and adds about
0.1-0.2 ms to each; the floor is the fewest calls the job can be done with (the
reasoning is in `scripts/bench`). Peak RSS is the largest process of a side (wait4),
or the forwarder's high-water mark for the tunnels.

To reproduce: `scripts/bench` (every comparison, 5 runs each), `scripts/bench
--only create-stack --runs 9` (one comparison), `scripts/bench --rev HEAD` (stackup
built from a commit rather than the work tree), `scripts/bench --no-readme` (print
only). Run artefacts and logs are in `.bench/`. moto answers every call on this
machine, so a wall time here is mostly each tool's own work plus moto's, not AWS's
latency: on AWS, waits and round trips dominate and a call saved counts more."""


TARGET = re.compile(r"^- target: (.*): (met|NOT met) \((.*)\)$", re.M)


def summary_table(blocks):
    """Every target of the blocks below, with its verdict, as one table."""
    rows = []
    for block in blocks:
        name = re.match(r"<!-- bench:(\S+) -->", block).group(1)
        for target, verdict, figure in TARGET.findall(block):
            rows.append(f"| {name} | {target} | {figure} | {verdict} |")
    if not rows:
        return ""
    return ("Targets at a glance (from the blocks below; each block says when it was measured):\n\n"
            "| comparison | target | measured | |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            "Where a target is not met, its block says what bounds it here: moto answers every call "
            "in one Python process on 2 cores, so its time is a large part of each wall time. "
            "deploy-rtt (no target of its own) runs the two deploy comparisons again with a round trip "
            "added to every call, as a remote AWS endpoint has: it shows what stackup's fewer rounds "
            "of calls and its concurrency come to there.\n\n")


def readme(path, readme_path, names):
    env, metas, runs = load(path)
    with open(readme_path) as f:
        text = f.read()
    start = text.find("\n## Benchmarks\n")
    if start < 0:
        sys.exit("README has no '## Benchmarks' section")
    head, section = text[: start + 1], text[start + 1:]
    if re.search(r"^## ", section[3:], re.M):
        sys.exit("'## Benchmarks' must stay the last section of the README")
    blocks = []
    versions = env.get("versions")
    for name in names:
        if name in metas and (metas[name].get("pending") or name in runs):
            blocks.append(markdown_block(env, metas[name], runs.get(name, {})))
        else:
            found = re.search(
                re.escape(BEGIN.format(name)) + r".*?" + re.escape(END.format(name)),
                section, re.S)
            if found:
                blocks.append(found.group(0))
    out = head + INTRO + "\n\n" + summary_table(blocks)
    if versions:
        out += "Versions of the last run: " + ", ".join(
            f"{k} {v}" for k, v in versions.items()) + ".\n\n"
    else:
        kept = re.search(r"^Versions of the last run: .*\n", section, re.M)
        if kept:
            out += kept.group(0) + "\n"
    out += "\n\n".join(blocks) + "\n"
    with open(readme_path, "w") as f:
        f.write(out)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    command, path, *rest = sys.argv[1:]
    if command == "record":
        record(path, rest)
    elif command == "show":
        show(path)
    elif command == "readme":
        readme(path, rest[0], rest[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
