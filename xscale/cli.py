"""The `xscale` command: parse, call one function, map user mistakes to exit code 2."""

from __future__ import annotations

import argparse
import sys

from xscale import __version__
from xscale.errors import UserError


def _validate(args) -> int:
    from xscale.spec import load_spec

    bad = 0
    for path in args.files:
        try:
            spec = load_spec(path)
        except UserError as e:
            bad += 1
            print(f"{path}: invalid", file=sys.stderr)
            for line in str(e).splitlines():
                print(f"  {line}", file=sys.stderr)
        else:
            print(f"{path}: ok ({len(spec.cells())} cells x {spec.search.trials_per_cell} trial(s))")
    return 2 if bad else 0


def _sweep(args) -> int:
    from xscale.spec import load_spec

    load_spec(args.spec)  # validate before importing Ray and torch: a bad spec starts nothing
    from xscale.sweep import run_sweep

    return run_sweep(args.spec, out=args.out, tracking_uri=args.tracking_uri, address=args.address,
                     resume=args.resume, retry_failed=args.retry_failed, use_cache=not args.no_cache,
                     cache_dir=args.cache_dir, cpus=args.cpus)


def _synth(args) -> int:
    if args.action == "check":
        from xscale.synthcheck.runner import check_main

        if args.jobs < 1:
            raise UserError(f"--jobs: must be a positive number of processes, got {args.jobs}")
        return check_main(args.out, seeds=tuple(args.seeds), preset=args.preset, models=not args.no_models,
                          jobs=args.jobs)
    from xscale.synth.cli import synth_main

    if not args.out:
        raise UserError("--out: required (the folder to write the benchmark into)")
    return synth_main(args.out, args.preset, args.seed)


def _tasks(args) -> int:
    if args.local:
        from xscale.data.local import describe_local

        print(describe_local(args.local))
        return 0
    from xscale.tasks.registry import format_task_table

    print(format_task_table())
    return 0


def _report(args) -> int:
    from xscale.analysis.cli import report_main

    return report_main(args.sweep_dir, args.tracking_uri, args.out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xscale", description="Scaling sweeps of English intermediate-task "
                                "training for zero-shot cross-lingual transfer.",
                                epilog="exit codes: 0 success; 1 a sweep with FAILED trials; 2 a user mistake "
                                "(one line on stderr); 130 an interrupted sweep (continue it with --resume)")
    p.add_argument("--version", action="version", version=f"xscale {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check sweep specs; exit 2 with every problem if one is invalid")
    v.add_argument("files", nargs="+", metavar="FILE", help="spec files (YAML) to check")
    v.set_defaults(fn=_validate)

    s = sub.add_parser("sweep", help="run a sweep with Ray Tune, recording every trial in MLflow")
    s.add_argument("spec", metavar="SPEC", help="the sweep's spec file, e.g. search_spaces/size_vs_data.yaml")
    s.add_argument("--out", help="sweep folder; everything the sweep writes goes there unless --cache-dir or "
                   "--tracking-uri say otherwise (default: sweeps/<spec name>/, with the stage cache and the MLflow "
                   "store shared in sweeps/); a pyarrow URI (s3://, gs://) on a cluster")
    s.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                   "sqlite:///<out>/mlflow.db, or sweeps/mlflow.db without --out)")
    s.add_argument("--address", help="Ray cluster address, e.g. auto (default: start Ray on this machine)")
    s.add_argument("--resume", action="store_true",
                   help="continue the sweep in --out: finished trials are kept, unfinished ones rerun from their "
                   "cached stages, each trial keeps its one MLflow run")
    s.add_argument("--retry-failed", action="store_true",
                   help="with --resume: run the FAILED trials again (e.g. after a fix; cached stages are reused)")
    s.add_argument("--no-cache", action="store_true", help="recompute every stage instead of reusing the cache")
    s.add_argument("--cache-dir", help="stage cache folder or URI (default: <out>/cache, or sweeps/cache "
                   "without --out); must be shared by every node of a cluster")
    s.add_argument("--cpus", type=int, help="CPUs of the local Ray instance (default: all of this machine's)")
    s.set_defaults(fn=_sweep)

    y = sub.add_parser("synth", help="materialise the embedded synthetic benchmark, or `synth check` it")
    y.add_argument("action", nargs="?", choices=["generate", "check"], default="generate",
                   help="generate (default): write the benchmark; check: measure that it is a benchmark")
    y.add_argument("--out", help="output folder (for `check`: where benchmarks and models are kept; default: a "
                   "temporary folder)")
    y.add_argument("--preset", default="default", help="tiny, small or default")
    y.add_argument("--seed", type=int, default=0, help="seed of the world, languages and tasks (generate)")
    y.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds for `check`")
    y.add_argument("--jobs", type=int, default=1,
                   help="`check` this many seeds side by side, one process each (default 1)")
    y.add_argument("--no-models", action="store_true",
                   help="`check` only the data (shortcuts, balance), not transfer and retrieval (which train models)")
    y.set_defaults(fn=_synth)

    t = sub.add_parser("tasks", help="print the task registry, or with --local what a data folder holds")
    t.add_argument("--local", metavar="DIR", help="list, per task, the languages and splits found in DIR (laid out "
                   "like ../shared/realdata) and the files skipped with why")
    t.set_defaults(fn=_tasks)

    r = sub.add_parser("report", help="fit scaling curves and write the report of a sweep")
    r.add_argument("sweep_dir", metavar="SWEEP_DIR", help="the sweep's folder (its --out)")
    r.add_argument("--tracking-uri", help="MLflow store of the sweep (default: $MLFLOW_TRACKING_URI, else the one "
                   "the sweep folder recorded)")
    r.add_argument("--out", help="where to write the report (default: SWEEP_DIR/report/)")
    r.set_defaults(fn=_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except UserError as e:
        for line in str(e).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
