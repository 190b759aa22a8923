"""Command line: `python -m autodiff_lite.grading build|grade|selftest|export|new-exercise`.

    python -m autodiff_lite.grading build            # exercises/ from solutions/ (never over a student's work)
    python -m autodiff_lite.grading build --force    # ... over a student's work too
    python -m autodiff_lite.grading build --check    # fail if exercises/ has drifted
    python -m autodiff_lite.grading grade exercises/01_chain_rule.ipynb [--json FILE|-]
    python -m autodiff_lite.grading grade --class DIR [--json FILE]  # DIR/<student>/*.ipynb, sandbox required
    python -m autodiff_lite.grading selftest         # untouched exercises score 0, solutions full marks
    python -m autodiff_lite.grading release DIR      # the course for a graded class (no solutions)
    python -m autodiff_lite.grading export --to nbgrader|otter DIR   # for a teacher's pipeline
    python -m autodiff_lite.grading new-exercise solutions/01_chain_rule.ipynb 1.6 --points 2

Exit codes: 0 when the work ran (whatever the score), 1 when a check found a
problem (drift, a failed self-test) or a notebook could not be graded (it gets
a row saying why; the others are graded), 2 on a usage error.
"""
import argparse
import json
import sys
from pathlib import Path

from .build import FormatError, build, check
from .export import ExportError, add_export_commands
from .grader import REPO, GradingError, default_solutions, format_table, grade
from .report import write_class_outputs


def _dirs(args):
    solutions = Path(args.solutions) if args.solutions else default_solutions()
    exercises = Path(args.exercises) if getattr(args, 'exercises', None) else solutions.parent / 'exercises'
    return _rel(solutions), _rel(exercises)          # short paths in messages


def _rel(path):
    try:
        return Path(path).resolve().relative_to(Path.cwd())
    except ValueError:
        return Path(path)


def cmd_build(args):
    solutions, exercises = _dirs(args)
    if args.check:
        problems = check(solutions, exercises)
        for p in problems:
            print(p, file=sys.stderr)
        if not problems:
            print(f'exercises in sync with {_rel(solutions)}/')
        return 1 if problems else 0
    written, refused = build(solutions, exercises, force=args.force)
    for path in written:
        print(f'wrote {_rel(path)}')
    for problem in refused:
        print(problem, file=sys.stderr)
    if not written and not refused:
        print(f'{_rel(exercises)}/ already up to date')
    return 1 if refused else 0


def _class_paths(folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f'{folder}: not a folder (--class takes a folder with one folder per student)')
    return sorted(p for p in folder.glob('*/*.ipynb'))


def _progress(done, total, path, seconds):
    if sys.stderr.isatty():
        sys.stderr.write(f'\r{done}/{total} graded  {seconds:5.0f} s  {Path(path).parent.name}/{Path(path).name}'[:100]
                         .ljust(100) + ('\n' if done == total else ''))
        sys.stderr.flush()


def cmd_grade(args):
    paths = list(args.paths)
    if args.klass:
        paths += _class_paths(args.klass)
    if not paths:
        raise GradingError('no notebooks to grade: name them, or pass --class DIR')
    reports = grade(paths, args.solutions, args.timeout, args.jobs, seed=args.seed,
                    require_sandbox=bool(args.klass or args.strict), unsafe=args.unsafe, progress=_progress)
    table = format_table(reports)
    status = 1 if any(r.get('error') for r in reports) else 0
    if args.klass or args.out:
        out = Path(args.out) if args.out else Path(args.klass).resolve().parent / (Path(args.klass).name + '-grades')
        for path in write_class_outputs(reports, out):
            print(f'wrote {_rel(path)}', file=sys.stderr)
    if args.json:
        doc = {'notebooks': reports, 'points': sum(r['points'] for r in reports),
               'max_points': sum(r['max_points'] for r in reports)}
        text = json.dumps(doc, indent=2, ensure_ascii=False) + '\n'
        if args.json == '-':
            sys.stderr.write(table)       # stdout stays pure JSON for a platform to read
            sys.stdout.write(text)
            return status
        Path(args.json).write_text(text)
    sys.stdout.write(table)
    return status


def cmd_selftest(args):
    """Untouched exercises must score 0, 'not solved yet'; solutions must score full marks."""
    solutions, exercises = _dirs(args)
    blank = sorted(exercises.glob('*.ipynb'))
    full = sorted(solutions.glob('*.ipynb'))
    reports = grade(blank + full, solutions, args.timeout, args.jobs, unsafe=True)
    sys.stdout.write(format_table(reports, grand_total=False))     # the verdict line below says what counts
    problems = [f"{rep['notebook']}: not graded: {rep['error']}" for rep in reports if rep.get('error')]
    for rep in reports[:len(blank)]:
        for e in rep['exercises']:
            if e['status'] != 'not solved yet' or e['points'] or f"Exercise {e['exercise']}" not in e['message']:
                problems.append(f"{rep['notebook']}: exercise {e['exercise']} should be 'not solved yet' "
                                f"with its 'Exercise {e['exercise']}: ...' message, got {e['status']!r}: "
                                f"{e['message'].splitlines()[0] if e['message'] else ''}")
    for rep in reports[len(blank):]:
        for e in rep['exercises']:
            if e['status'] != 'passed':
                problems.append(f"{rep['notebook']}: exercise {e['exercise']} should get full marks "
                                f"from its own solution, got {e['status']!r}: {e['message'].splitlines()[0]}")
    for p in problems:
        print(f'selftest: {p}', file=sys.stderr)
    n = sum(len(r['exercises']) for r in reports[len(blank):])
    full_pts = sum(r['points'] for r in reports[len(blank):])
    full_max = sum(r['max_points'] for r in reports[len(blank):])
    blank_pts = sum(r['points'] for r in reports[:len(blank)])
    print(f'selftest: {"FAILED" if problems else "OK"}: solutions {full_pts:g}/{full_max:g} points '
          f'(expected full marks), untouched exercises {blank_pts:g} points (expected 0); '
          f'{len(reports)} notebooks, {n} exercises')
    return 1 if problems else 0


def cmd_release(args):
    from .release import release
    try:
        files = release(args.dir, REPO)
    except FileExistsError as err:
        raise GradingError(str(err)) from None
    print(f'wrote {len(files)} files to {args.dir}: lessons, exercises, the package and selfcheck/ '
          '(no solutions/, no hidden tests)')
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m autodiff_lite.grading',
                                     description='Graded exercises: generate, grade, self-test.')
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('build', help='write exercises/ from solutions/')
    p.add_argument('--check', action='store_true', help='fail when exercises/ has drifted')
    p.add_argument('--force', action='store_true',
                   help="overwrite exercises notebooks even when their answer cells hold a student's work")
    p.add_argument('--solutions', help=f'default: {REPO / "solutions"}')
    p.add_argument('--exercises', help='default: exercises/ next to solutions/')
    p.set_defaults(run=cmd_build)
    p = sub.add_parser('grade', help="grade students' notebooks against solutions/")
    p.add_argument('paths', nargs='*', metavar='NOTEBOOK')
    p.add_argument('--class', dest='klass', metavar='DIR',
                   help='grade DIR/<student>/*.ipynb (needs the sandbox unless --unsafe)')
    p.add_argument('--strict', action='store_true', help='refuse to grade without the sandbox')
    p.add_argument('--unsafe', action='store_true', help='grade without the sandbox where it cannot start')
    p.add_argument('--out', metavar='DIR', help='write gradebook.csv, summary.md/.png and feedback/ '
                   '(default with --class: DIR-grades next to the class folder)')
    p.add_argument('--seed', type=int, help='seed of the hidden inputs (default: a new one each run)')
    p.add_argument('--json', metavar='FILE', help="also write the results as JSON ('-': stdout)")
    p.add_argument('--timeout', type=float, default=30, help='seconds per cell (default 30)')
    p.add_argument('--solutions', help=f'default: {REPO / "solutions"}')
    p.add_argument('--jobs', type=int, default=2, help='notebooks graded at once (default 2)')
    p.set_defaults(run=cmd_grade)
    p = sub.add_parser('release', help='write the course as a graded class receives it (no solutions)')
    p.add_argument('dir', metavar='DIR')
    p.set_defaults(run=cmd_release)
    p = sub.add_parser('selftest', help='untouched exercises score 0, solutions score full marks')
    p.add_argument('--timeout', type=float, default=30)
    p.add_argument('--solutions')
    p.add_argument('--exercises')
    p.add_argument('--jobs', type=int, default=2)
    p.set_defaults(run=cmd_selftest)
    add_export_commands(sub)                      # export, new-exercise
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (GradingError, FormatError, ExportError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
