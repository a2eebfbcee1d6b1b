#!/usr/bin/env python3
"""Log events for the logs benchmarks of scripts/bench, written straight to moto (not
through a recording proxy, so never counted) with the standard library only.

usage:
  logs_events.py load URL GROUP --events N --streams S --start MS --step-ms D
      N events over S streams (<prefix>task<NN>), event n in stream n % S at time
      START + n * D, put in batches of up to 10,000 per stream (PutLogEvents).
  logs_events.py feed URL GROUP --events N --streams S --batch B --progress FILE
                      --deadline SECONDS [--rate EVENTS_PER_SECOND]
      N events stamped with the time they are made, B per PutLogEvents, the streams
      in turn, as fast as moto takes them (or, with --rate, no faster than that);
      after every batch a line "SECONDS EVENTS"
      (since the feed began, events put so far) is appended to FILE. Stops at the
      deadline (exit 3) if N were not all put by then.
  logs_events.py check FORMAT FILE N
      FILE holds exactly N events, each once: FORMAT "lines" (one event a line, its
      message carrying "seq=NNNNNNN") or "aws" (the aws CLI's JSON: {"events": [...]}).
      Prints the count; exits 1 when it is not N or a sequence number repeats.
  logs_events.py sample --pid PID --progress FILE --out FILE --count N --samples FILE
                        [--interval 0.5] [--settle 6] [--timeout SECONDS]
      Every interval, a line "SECONDS RSS_KB PUT PRINTED" to --samples: the follower's
      VmRSS (/proc/PID/status), the events put so far (the feeder's last progress line)
      and the lines in --out so far (read as it grows). Ends once PRINTED reached N and
      stayed there --settle seconds (a double would show up in the next polls), or at
      the timeout, or when PID ends, or at once when PRINTED exceeds N. Prints the
      follower's VmHWM (peak RSS, KB) at the end; exit 1 when PRINTED is not N.
  logs_events.py busy CALL_LOG
      The seconds during which at least one call was in moto, from a recording proxy's
      log (examples/bench_proxy.rs --log) since its last counts reset: the union of the
      calls' intervals (overlapping calls count once).

Every message carries a unique sequence number "seq=NNNNNNN". Region us-east-1;
moto does not check signatures.
"""
import argparse
import http.client
import json
import re
import sys
import time
import urllib.parse

AUTH = ("AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/logs/aws4_request, "
        "SignedHeaders=host, Signature=0")
PATHS = ["/", "/api/users", "/api/orders", "/health", "/api/items/42"]
STATUS = [200, 200, 200, 201, 204, 404]


def message(seq):
    """A request line as a web app logs it, with a unique seq: under 75 bytes, so that a
    batch of 10,000 stays within PutLogEvents' 1 MB (each event counts 26 bytes more)."""
    return (f"seq={seq:07d} info req=F{seq * 2654435761 % 2**40:010x} "
            f"GET {PATHS[seq % 5]} {STATUS[seq % 6]} {seq % 97}.{seq % 10}ms")


class Logs:
    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.connection = None

    def call(self, operation, payload, tries=3):
        body = json.dumps(payload).encode()
        headers = {
            "Authorization": AUTH,
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"Logs_20140328.{operation}",
        }
        for attempt in range(tries):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(*self.address, timeout=300)
                self.connection.request("POST", "/", body, headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.status != 200:
                    sys.exit(f"{operation}: HTTP {response.status}: {data[:300]!r}")
                return json.loads(data or b"{}")
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == tries - 1:
                    raise
        return None

    def create_stream(self, group, stream):
        try:
            self.call("CreateLogStream", {"logGroupName": group, "logStreamName": stream}, tries=1)
        except SystemExit as error:
            if "ResourceAlreadyExists" not in str(error):
                raise

    def put(self, group, stream, events):
        self.call("PutLogEvents", {"logGroupName": group, "logStreamName": stream, "logEvents": events})


def stream_names(count):
    return [f"web/web/task{index:02d}" for index in range(count)]


def load(args):
    logs = Logs(args.url)
    names = stream_names(args.streams)
    for index, name in enumerate(names):
        logs.create_stream(args.group, name)
        numbers = range(index, args.events, args.streams)
        events = [{"timestamp": args.start + n * args.step_ms, "message": message(n)} for n in numbers]
        for first in range(0, len(events), 10_000):
            logs.put(args.group, name, events[first:first + 10_000])


def feed(args):
    logs = Logs(args.url)
    names = stream_names(args.streams)
    for name in names:
        logs.create_stream(args.group, name)
    began = time.monotonic()
    put = 0
    batch_number = 0
    with open(args.progress, "a") as progress:
        while put < args.events:
            if time.monotonic() - began > args.deadline:
                print(f"deadline: {put} of {args.events} events put", file=sys.stderr)
                sys.exit(3)
            if args.rate:
                time.sleep(max(0.0, began + put / args.rate - time.monotonic()))
            size = min(args.batch, args.events - put)
            now = int(time.time() * 1000)
            events = [{"timestamp": now, "message": message(put + n)} for n in range(size)]
            logs.put(args.group, names[batch_number % len(names)], events)
            put += size
            batch_number += 1
            progress.write(f"{time.monotonic() - began:.3f} {put}\n")
            progress.flush()


SEQ = re.compile(r"seq=(\d+)")


def check(args):
    if args.format == "aws":
        with open(args.file) as f:
            messages = [event["message"] for event in json.load(f).get("events", [])]
    else:
        with open(args.file, errors="replace") as f:
            messages = f.read().splitlines()
    seqs = set()
    for line in messages:
        found = SEQ.search(line)
        if not found:
            sys.exit(f"{args.file}: an event without seq=: {line[:200]!r}")
        seqs.add(found.group(1))
    print(len(messages))
    if len(messages) != args.count or len(seqs) != len(messages):
        sys.exit(f"{args.file}: {len(messages)} events ({len(seqs)} distinct), expected {args.count} each once")


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def last_put(path):
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
        return int(lines[-1].split()[1]) if lines else 0
    except (OSError, ValueError, IndexError):
        return 0


def sample(args):
    began = time.monotonic()
    printed, offset, reached, peak = 0, 0, None, 0
    with open(args.samples, "a") as samples:
        while True:
            now = time.monotonic() - began
            try:
                with open(args.out, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                chunk = b""
            # only whole lines count
            whole = chunk.rfind(b"\n") + 1
            printed += chunk.count(b"\n", 0, whole)
            offset += whole
            rss = status_kb(args.pid, "VmRSS")
            hwm = status_kb(args.pid, "VmHWM")
            if hwm:
                peak = hwm
            samples.write(f"{now:.2f} {rss or 0} {last_put(args.progress)} {printed}\n")
            samples.flush()
            if rss is None or printed > args.count or now > args.timeout:
                break
            if printed == args.count:
                reached = reached if reached is not None else now
                if now - reached >= args.settle:
                    break
            else:
                reached = None
            time.sleep(args.interval)
    print(peak)
    if printed != args.count:
        sys.exit(f"the follower printed {printed} lines, not {args.count}")


def busy(args):
    intervals = []
    with open(args.log) as f:
        for line in f:
            if line.startswith("--- counts reset"):
                intervals = []
                continue
            fields = line.split()
            if len(fields) == 4:
                start, took = float(fields[0]), float(fields[3])
                intervals.append((start, start + took))
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    print(f"{total:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("load")
    p.add_argument("url")
    p.add_argument("group")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--start", type=int, required=True)
    p.add_argument("--step-ms", type=int, required=True)
    p = commands.add_parser("feed")
    p.add_argument("url")
    p.add_argument("group")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--progress", required=True)
    p.add_argument("--deadline", type=float, required=True)
    p.add_argument("--rate", type=float, default=0)
    p = commands.add_parser("check")
    p.add_argument("format", choices=["lines", "aws"])
    p.add_argument("file")
    p.add_argument("count", type=int)
    p = commands.add_parser("sample")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--progress", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--settle", type=float, default=6)
    p.add_argument("--timeout", type=float, default=900)
    p = commands.add_parser("busy")
    p.add_argument("log")
    args = parser.parse_args()
    {"load": load, "feed": feed, "check": check, "sample": sample, "busy": busy}[args.command](args)


if __name__ == "__main__":
    main()
