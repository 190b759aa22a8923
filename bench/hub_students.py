"""Ten students on one machine: time to the first rendered graph, memory per student.

    .venv/bin/python bench/hub_students.py [--students 10] [--json FILE]

A real JupyterHub with its proxy (the set-up of tests/hub/hubkit.py, parts
installed into .hub/). Three phases:

1. alone: one student logs in, opens lesson 02 and runs it to its first graph
   (the uncontended figure);
2. cold, all at once: N students log in at the same moment; each server
   starts (through binder/start), a kernel starts on lesson 02, and its cells
   run in order until the first SVG graph arrives, then to the end of the lesson;
3. warm, all at once: with every server up, the N students open lesson 02
   again at the same moment (a new kernel each) and run it to the first graph.

Memory per student: PSS (shared pages divided among the processes sharing
them, so the figures add up) and RSS of each single-user server with its
kernel, measured with all N kernels alive after the lesson.
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tests' / 'hub'))
import hubkit  # noqa: E402

LESSON = 'autodiff-lite/notebooks/02_computational_graphs.ipynb'


def server_of(student):
    return hubkit.student_servers(student.hub).get(student.name)


def run_lesson(student, t0, marks, to_end=True):
    """Open lesson 02 on a new kernel and run it; marks get the time of each milestone,
    and the CPU seconds the student's server and kernel have used by the first graph."""
    lesson = student.get_notebook(LESSON)
    kernel = student.kernel(LESSON)
    marks['kernel ready'] = time.monotonic() - t0
    try:
        for cell in hubkit.code_cells(lesson):
            outputs = kernel.execute(cell['source'], allow_error=hubkit.expects_error(cell))
            if 'first graph' not in marks and any('image/svg+xml' in o.get('data', {}) for o in outputs):
                marks['first graph'] = time.monotonic() - t0
                server = server_of(student)
                marks['cpu to first graph'] = hubkit.cpu_of(server) - marks.get('cpu before', 0)
                if not to_end:
                    break
        marks['lesson done'] = time.monotonic() - t0
    except Exception:
        kernel.close()
        raise
    return kernel


def cold(hub, name, barrier, kernels):
    marks = {}
    student = hubkit.Student(hub, name)
    barrier.wait()
    t0 = time.monotonic()
    student.login()
    marks['server ready'] = time.monotonic() - t0
    marks['cpu to server ready'] = hubkit.cpu_of(server_of(student))
    kernels[name] = run_lesson(student, t0, marks)
    return student, marks


def warm(student, barrier):
    marks = {'cpu before': hubkit.cpu_of(server_of(student))}
    barrier.wait()
    t0 = time.monotonic()
    kernel = run_lesson(student, t0, marks, to_end=False)
    kernel.close()
    return marks


def summary(rows, key):
    xs = sorted(r[key] for r in rows if key in r)
    return {'median': statistics.median(xs), 'min': xs[0], 'max': xs[-1]} if xs else None


def fmt(s):
    return f"median {s['median']:.1f} s (min {s['min']:.1f}, max {s['max']:.1f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--students', type=int, default=10)
    ap.add_argument('--json', help='also write the figures here')
    args = ap.parse_args(argv)
    if args.students < 1:
        ap.error(f'--students must be 1 or more, got {args.students}')
    try:
        hubkit.ensure_components()
    except hubkit.Unavailable as why:
        print(f'hub bench: cannot run: {why}', file=sys.stderr)
        return 1
    result = {'students': args.students, 'cores': os.cpu_count(), 'load before': os.getloadavg()}
    with hubkit.Hub() as hub:
        # 1. alone
        kernels = {}
        _, solo = cold(hub, 'solo', threading.Barrier(1), kernels)
        kernels.pop('solo').close()
        hub.api('DELETE', '/users/solo/server')
        result['alone'] = solo
        print('alone:', {k: round(v, 1) for k, v in solo.items()}, flush=True)

        # 2. cold, all at once
        names = [f'student{i:02d}' for i in range(1, args.students + 1)]
        barrier = threading.Barrier(len(names))
        with ThreadPoolExecutor(len(names)) as pool:
            done = list(pool.map(lambda n: cold(hub, n, barrier, kernels), names))
        students = {s.name: s for s, _ in done}
        cold_rows = [dict(m, name=s.name) for s, m in done]
        result['cold'] = cold_rows

        # memory, every server with its kernel alive after the lesson
        servers = hubkit.student_servers(hub)
        result['memory_mb'] = {}
        for user, proc in servers.items():
            if user in students:
                rss, pss = hubkit.memory_of(proc)
                server_pss = proc.memory_full_info().pss
                result['memory_mb'][user] = {'pss': pss / 2**20, 'rss': rss / 2**20,
                                             'server pss': server_pss / 2**20,
                                             'kernel pss': (pss - server_pss) / 2**20}
        hub_and_proxy = [p for p in hub.processes()
                         if p.pid == hub.proc.pid or 'configurable-http-proxy' in ' '.join(p.cmdline())]
        result['hub_and_proxy_pss_mb'] = sum(p.memory_full_info().pss for p in hub_and_proxy) / 2**20
        for k in kernels.values():
            k.close()

        # 3. warm servers, everyone opens the lesson at once
        barrier = threading.Barrier(len(names))
        with ThreadPoolExecutor(len(names)) as pool:
            warm_rows = list(pool.map(lambda n: dict(warm(students[n], barrier), name=n), names))
        result['warm'] = warm_rows

    result['load after'] = os.getloadavg()
    n = args.students
    pss = [m['pss'] for m in result['memory_mb'].values()]
    rss = [m['rss'] for m in result['memory_mb'].values()]
    print(f"\n{n} students at once on this machine ({result['cores']} cores; load average before "
          f"{result['load before'][0]:.1f}, after {result['load after'][0]:.1f}: other programs share it):")
    print(f"  alone, login to first graph:           {solo['first graph']:.1f} s "
          f"(server {solo['server ready']:.1f} s, kernel {solo['kernel ready']:.1f} s)")
    for key in ('server ready', 'kernel ready', 'first graph', 'lesson done'):
        print(f'  cold, login to {key + ":":<24}{fmt(summary(cold_rows, key))}')
    for key in ('kernel ready', 'first graph'):
        print(f'  warm, open lesson to {key + ":":<17}{fmt(summary(warm_rows, key))}')
    for name, rows in (('cold', cold_rows), ('warm', warm_rows)):
        print(f"  {name}, CPU seconds per student to first graph (server + kernel): "
              f"{fmt(summary(rows, 'cpu to first graph')).replace(' s', '')}")
    print(f"  cold, CPU seconds per student to server ready: {fmt(summary(cold_rows, 'cpu to server ready')).replace(' s', '')}")
    print(f"  alone, CPU seconds to first graph: {solo['cpu to first graph']:.1f} "
          f"(to server ready {solo['cpu to server ready']:.1f})")
    print(f'  memory per student (server + kernel): PSS median {statistics.median(pss):.0f} MB '
          f'(max {max(pss):.0f}), RSS median {statistics.median(rss):.0f} MB')
    mm = result['memory_mb'].values()
    print(f"    of which the server {statistics.median(m['server pss'] for m in mm):.0f} MB, "
          f"the kernel (lesson 02 run) {statistics.median(m['kernel pss'] for m in mm):.0f} MB")
    print(f"  hub + proxy: PSS {result['hub_and_proxy_pss_mb']:.0f} MB")
    print('  per student, cold (s):')
    for row in sorted(cold_rows, key=lambda r: r['first graph']):
        print(f"    {row['name']}: server {row['server ready']:5.1f}  kernel {row['kernel ready']:5.1f}  "
              f"first graph {row['first graph']:5.1f}  lesson done {row['lesson done']:5.1f}  "
              f"CPU {row['cpu to first graph']:4.1f} s  "
              f"PSS {result['memory_mb'][row['name']]['pss']:4.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
