"""What grading gives people: the score table, and for a class a CSV gradebook, a summary
with the misconceptions counted (a table and a bar chart), and a feedback file per student.

A student is the folder a notebook sits in (`grade --class DIR` reads DIR/<student>/*.ipynb).
Hidden-test messages are already redacted by the verdict; nothing here adds a value back.
"""
import csv
from collections import Counter, defaultdict
from pathlib import Path

__all__ = ['format_table', 'write_class_outputs']


def _rel(path):
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def format_table(reports, grand_total=True):
    """The score table: one row per exercise; each failing exercise's whole message follows
    its notebook's table (a hint is never cut)."""
    lines = []
    if any(r.get('selfcheck') for r in reports):
        lines += ['self-check: the visible tests only. Your grade comes from your teacher, who runs the hidden '
                  'tests too.', '']
    for rep in reports:
        if rep.get('error') and not rep['exercises']:
            lines += [f"{_rel(rep['notebook'])}  NOT GRADED", f"  error: {rep['error']}", '']
            continue
        lines.append(_rel(rep['notebook']) + ('  NOT GRADED' if rep.get('error') else ''))
        lines.append(f"  {'exercise':<9} {'points':>7}  status")
        notes = []
        for e in rep['exercises']:
            pts = f"{e['points']:g}/{e['max_points']:g}"
            lines.append(f"  {e['exercise']:<9} {pts:>7}  {e['status']}")
            if e['status'] != 'passed' and e['message']:
                notes.append((e['exercise'], e['message']))
        total = f"{rep['points']:g}/{rep['max_points']:g}"
        lines.append(f"  {'total':<9} {total:>7}")
        for number, message in notes:
            first, *rest = str(message).splitlines() or ['']
            lines.append(f'  {number}: {first}')
            lines += [f'       {r}' for r in rest]
        lines.append('')
    if grand_total and len(reports) > 1:
        got = sum(r['points'] for r in reports)
        out_of = sum(r['max_points'] for r in reports)
        lines.append(f'all notebooks: {got:g}/{out_of:g} points')
    failed = [r for r in reports if r.get('error')]
    if failed:
        lines.append(f'{len(failed)} of {len(reports)} notebooks could not be graded (see "NOT GRADED" above)')
    return '\n'.join(lines).rstrip() + '\n'


def _student(rep):
    return Path(rep['notebook']).parent.name


def _exercise_order(reports):
    seen = {}
    for rep in reports:
        for e in rep['exercises']:
            seen.setdefault(e['exercise'], e['max_points'])
    return sorted(seen, key=lambda n: tuple(int(p) for p in n.split('.'))), seen


def write_gradebook(reports, path):
    """One row per student, one column per exercise across the notebooks, a total (CSV)."""
    numbers, max_points = _exercise_order(reports)
    rows = defaultdict(dict)
    for rep in reports:
        for e in rep['exercises']:
            rows[_student(rep)][e['exercise']] = e['points']
        rows[_student(rep)]
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['student'] + [f'Exercise {n}' for n in numbers] + ['total'])
        w.writerow(['(max)'] + [f'{max_points[n]:g}' for n in numbers] + [f'{sum(max_points.values()):g}'])
        for student in sorted(rows):
            got = rows[student]
            w.writerow([student] + [f'{got.get(n, 0):g}' for n in numbers] + [f'{sum(got.values()):g}'])


def summarize(reports):
    """{exercise: {'solved', 'students', 'misconceptions': Counter, 'statuses': Counter}}."""
    out = defaultdict(lambda: {'solved': 0, 'students': 0, 'misconceptions': Counter(), 'statuses': Counter()})
    for rep in reports:
        for e in rep['exercises']:
            s = out[e['exercise']]
            s['students'] += 1
            s['solved'] += e['status'] == 'passed'
            s['statuses'][e['status']] += 1
            if e.get('misconception'):
                s['misconceptions'][e['misconception']] += 1
    return out


def write_summary(reports, folder):
    """summary.md (per exercise: solved, misconceptions counted) and summary.png (a bar chart)."""
    numbers, _ = _exercise_order(reports)
    summary = summarize(reports)
    students = len({_student(r) for r in reports})
    errors = [r for r in reports if r.get('error')]
    lines = [f'# Class summary: {students} students, {len(reports)} notebooks', '']
    if errors:
        lines += [f'{len(errors)} notebooks could not be graded (see the gradebook and the feedback files).', '']
    lines += ['| exercise | solved | not solved yet | failed | other | misconceptions diagnosed |',
              '|---|---|---|---|---|---|']
    for n in numbers:
        s = summary[n]
        other = s['students'] - s['solved'] - s['statuses']['not solved yet'] - s['statuses']['failed']
        mis = ', '.join(f'{k} ×{v}' for k, v in s['misconceptions'].most_common()) or '-'
        lines.append(f"| {n} | {s['solved']}/{s['students']} | {s['statuses']['not solved yet']} | "
                     f"{s['statuses']['failed']} | {other} | {mis} |")
    (Path(folder) / 'summary.md').write_text('\n'.join(lines) + '\n\n![solved per exercise](summary.png)\n')
    _chart(numbers, summary, Path(folder) / 'summary.png')


def _chart(numbers, summary, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    mis = Counter()
    for n in numbers:
        mis.update({f'{n} {k}': v for k, v in summary[n]['misconceptions'].items()})
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    a.bar(numbers, [summary[n]['solved'] / max(summary[n]['students'], 1) for n in numbers], color='#4c72b0')
    a.set_ylim(0, 1)
    a.set_title('solved, per exercise (fraction of the class)')
    top = mis.most_common(10)[::-1]
    b.barh([k for k, _ in top] or ['(none)'], [v for _, v in top] or [0], color='#dd8452')
    b.set_title('misconceptions the hints diagnosed (students)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_feedback(reports, folder):
    """feedback/<student>.md: each notebook's exercises, result and hint (hidden tests redacted)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_student = defaultdict(list)
    for rep in reports:
        by_student[_student(rep)].append(rep)
    for student, reps in by_student.items():
        lines = [f'# Feedback for {student}', '']
        for rep in reps:
            lines.append(f"## {Path(rep['notebook']).name}: {rep['points']:g}/{rep['max_points']:g} points")
            lines.append('')
            if rep.get('error'):
                lines += [f"Not graded: {rep['error']}", '']
            for e in rep['exercises']:
                lines.append(f"- **Exercise {e['exercise']}** ({e['points']:g}/{e['max_points']:g}): {e['status']}")
                if e['status'] != 'passed' and e['message']:
                    lines += ['', '  ```', *[f'  {line}' for line in str(e['message']).splitlines()], '  ```']
            lines.append('')
        (folder / f'{student}.md').write_text('\n'.join(lines))


def write_class_outputs(reports, folder):
    """gradebook.csv, summary.md, summary.png and feedback/ in `folder`; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_gradebook(reports, folder / 'gradebook.csv')
    write_summary(reports, folder)
    write_feedback(reports, folder / 'feedback')
    return [folder / 'gradebook.csv', folder / 'summary.md', folder / 'summary.png', folder / 'feedback']
