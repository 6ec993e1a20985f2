#!/usr/bin/env python3
"""Turns a request-arrival trace into a `thaw bench load --schedule` file.

Input: a CSV with a TIMESTAMP column ("YYYY-MM-DD HH:MM:SS[.fraction]"), such as the Azure LLM
inference trace 2023 (code.csv, conversation.csv). Output: one line per arrival,
"OFFSET_SECONDS MODEL", offsets from the first arrival, sorted, preceded by '#' comment lines
that record how the file was made.

Steps, in order:
  1. --start/--length pick a slice of the trace (seconds of trace time; default: all of it).
  2. The time axis is divided by --compress (10 turns an hour into 6 minutes); the shape of the
     arrivals (bursts, lulls) is kept, every rate is multiplied by the factor.
  3. --max-rate R thins the whole trace uniformly so that its busiest --window (in output seconds)
     carries at most R requests per second: every arrival is kept with the same deterministic
     stride (arrival i survives when floor((i+1)*f) > floor(i*f), f = kept fraction), so bursts
     stay bursts, only smaller. Without --max-rate nothing is dropped.
  4. --duration cuts the output after that many seconds.
  5. Each surviving arrival gets one of --models N models (names PREFIX0..PREFIX{N-1}, or
     --model-names a,b,c):
       zipf (default): model k with probability proportional to 1/(k+1)^--zipf-s, so model 0 is
         the hottest and the last the coldest, the usual skew of a multi-model fleet. The draw
         for arrival i is a pure function of (--seed, i): SplitMix64 of seed*2^32 + i, as a
         uniform in [0, 1), through the inverse CDF of the weights. Same flags, same file.
       round-robin: arrival i goes to model i mod N (every model equally busy).
       size: by the request's ContextTokens, ranked into N equal-count bands (model 0 gets the
         shortest prompts); ties in the trace order.
"""
import argparse
import bisect
import csv
import datetime as dt
import math
import pathlib
import sys

MASK64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def parse_timestamp(text):
    """Seconds since the epoch (UTC assumed) from 'YYYY-MM-DD HH:MM:SS[.fraction]' of any precision."""
    text = text.strip()
    whole, _, frac = text.partition(".")
    try:
        base = dt.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    except ValueError as e:
        raise ValueError(f"bad TIMESTAMP {text!r}") from e
    if frac and not frac.isdigit():
        raise ValueError(f"bad TIMESTAMP {text!r}")
    return base.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


def read_trace(path):
    """Returns [(seconds, context_tokens or None)] in file order."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "TIMESTAMP" not in reader.fieldnames:
            raise ValueError(f"{path}: no TIMESTAMP column (found {reader.fieldnames})")
        for line_no, row in enumerate(reader, start=2):
            try:
                t = parse_timestamp(row["TIMESTAMP"] or "")
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: {e}") from None
            tokens = row.get("ContextTokens")
            rows.append((t, int(tokens) if tokens and tokens.strip().isdigit() else None))
    if not rows:
        raise ValueError(f"{path}: no arrivals")
    return rows


def peak_rate(offsets, window):
    """Most arrivals in any window [t, t + window) starting at an arrival, per second."""
    best, j = 0, 0
    for i, t in enumerate(offsets):
        while j < len(offsets) and offsets[j] < t + window:
            j += 1
        best = max(best, j - i)
    return best / window


def stride_keep(n, fraction):
    """Indices kept when keeping `fraction` of n items at an even deterministic stride."""
    return [i for i in range(n) if math.floor((i + 1) * fraction) > math.floor(i * fraction)]


def cap_rate(arrivals, max_rate, window):
    """Thins `arrivals` (sorted by offset) uniformly until the busiest window is <= max_rate."""
    offsets = [a[0] for a in arrivals]
    peak = peak_rate(offsets, window)
    if peak <= max_rate:
        return arrivals, 1.0
    fraction = max_rate / peak
    for _ in range(50):
        kept = [arrivals[i] for i in stride_keep(len(arrivals), fraction)]
        if peak_rate([a[0] for a in kept], window) <= max_rate:
            return kept, fraction
        fraction *= 0.99
    raise RuntimeError("could not meet --max-rate")


def assign_models(arrivals, n, rule, seed, zipf_s):
    """Model index per arrival, by the documented deterministic rule."""
    if rule == "round-robin":
        return [i % n for i in range(len(arrivals))]
    if rule == "size":
        order = sorted(range(len(arrivals)), key=lambda i: (arrivals[i][1] if arrivals[i][1] is not None else -1, i))
        out = [0] * len(arrivals)
        for rank, i in enumerate(order):
            out[i] = rank * n // len(arrivals)
        return out
    weights = [1.0 / (k + 1) ** zipf_s for k in range(n)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    cdf[-1] = 1.0
    out = []
    for i in range(len(arrivals)):
        u = (splitmix64(((seed & 0xFFFFFFFF) << 32) + i) >> 11) * 2.0 ** -53
        out.append(min(bisect.bisect_right(cdf, u), n - 1))
    return out


def convert(rows, compress=1.0, start=0.0, length=None, max_rate=None, window=1.0, duration=None,
            models=1, names=None, rule="zipf", seed=0, zipf_s=1.0):
    """Returns (lines, info): schedule lines "offset model" and a summary dict."""
    if compress <= 0 or not math.isfinite(compress):
        raise ValueError("--compress must be a positive number")
    if window <= 0:
        raise ValueError("--window must be positive")
    if max_rate is not None and max_rate <= 0:
        raise ValueError("--max-rate must be positive")
    names = names or [f"m{k}" for k in range(models)]
    if not names:
        raise ValueError("need at least one model")
    rows = sorted(rows, key=lambda r: r[0])
    t0 = rows[0][0] + start
    end = t0 + length if length is not None else math.inf
    arrivals = [((t - t0) / compress, tokens) for t, tokens in rows if t0 <= t < end]
    if not arrivals:
        raise ValueError("no arrivals in the selected slice")
    shift = arrivals[0][0]
    arrivals = [(t - shift, tokens) for t, tokens in arrivals]
    source_peak = peak_rate([a[0] for a in arrivals], window)
    kept_fraction = 1.0
    if max_rate is not None:
        arrivals, kept_fraction = cap_rate(arrivals, max_rate, window)
    if duration is not None:
        arrivals = [a for a in arrivals if a[0] < duration]
    if not arrivals:
        raise ValueError("no arrivals left")
    assignment = assign_models(arrivals, len(names), rule, seed, zipf_s)
    lines = [f"{t:.6f} {names[m]}" for (t, _), m in zip(arrivals, assignment)]
    span = arrivals[-1][0]
    per_model = {name: 0 for name in names}
    for m in assignment:
        per_model[names[m]] += 1
    info = {"arrivals": len(lines), "span_s": span, "mean_rate": len(lines) / span if span > 0 else 0.0,
            "peak_rate_before_cap": source_peak, "peak_rate": peak_rate([a[0] for a in arrivals], window),
            "kept_fraction": kept_fraction, "per_model": per_model}
    return lines, info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", help="CSV with a TIMESTAMP column (e.g. ../shared/traces/azure-llm-2023/code.csv)")
    ap.add_argument("-o", "--out", help="schedule file to write (default: stdout)")
    ap.add_argument("--compress", type=float, default=1.0, help="divide the time axis by this factor")
    ap.add_argument("--start", type=float, default=0.0, help="skip this many seconds of trace time first")
    ap.add_argument("--length", type=float, help="keep this many seconds of trace time")
    ap.add_argument("--max-rate", type=float, help="thin uniformly so no --window exceeds this many req/s")
    ap.add_argument("--window", type=float, default=1.0, help="window for peak rates, output seconds")
    ap.add_argument("--duration", type=float, help="cut the output after this many seconds")
    ap.add_argument("--models", type=int, default=1, help="number of models to spread arrivals over")
    ap.add_argument("--model-prefix", default="m", help="model names PREFIX0..PREFIX{N-1}")
    ap.add_argument("--model-names", help="comma-separated model names (overrides --models/--model-prefix)")
    ap.add_argument("--assign", choices=["zipf", "round-robin", "size"], default="zipf", help="model assignment rule")
    ap.add_argument("--zipf-s", type=float, default=1.0, help="zipf exponent (0: uniform)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the zipf assignment")
    args = ap.parse_args(argv)

    if args.model_names:
        names = [n.strip() for n in args.model_names.split(",") if n.strip()]
    else:
        if args.models < 1:
            ap.error("--models must be >= 1")
        names = [f"{args.model_prefix}{k}" for k in range(args.models)]
    try:
        rows = read_trace(args.trace)
        lines, info = convert(rows, args.compress, args.start, args.length, args.max_rate, args.window,
                              args.duration, len(names), names, args.assign, args.seed, args.zipf_s)
    except (OSError, ValueError) as e:
        print(f"trace_to_schedule: {e}", file=sys.stderr)
        return 2
    header = [
        f"# thaw bench load schedule from {pathlib.Path(args.trace).name}",
        f"# compress {args.compress:g}, start {args.start:g} s, length {args.length}, max-rate {args.max_rate} "
        f"(kept {info['kept_fraction']:.4f}), window {args.window:g} s, duration {args.duration}",
        f"# models {','.join(names)} assigned by {args.assign}"
        + (f" (s={args.zipf_s:g}, seed={args.seed})" if args.assign == "zipf" else ""),
        f"# {info['arrivals']} arrivals over {info['span_s']:.3f} s, mean {info['mean_rate']:.1f}/s, "
        f"peak {info['peak_rate']:.1f}/s",
    ]
    text = "\n".join(header + lines) + "\n"
    if args.out:
        pathlib.Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    print(f"{info['arrivals']} arrivals over {info['span_s']:.2f} s: mean {info['mean_rate']:.1f}/s, "
          f"peak {info['peak_rate']:.1f}/s (before cap {info['peak_rate_before_cap']:.1f}/s); per model "
          + ", ".join(f"{k} {v}" for k, v in info["per_model"].items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
