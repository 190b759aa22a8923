"""Reading notebooks without trusting them: a submission is data, checked before anything runs.

A submitted notebook must be a regular file (not a symlink, not a device),
at most MAX_BYTES, UTF-8, JSON, with a list of cells whose sources are text.
Anything else is a `SubmissionError` naming the problem and the fix; the
grader turns it into an `error` row and grades the others. Only the sources
of code cells with an id are kept: outputs, tags and metadata of a submission
mean nothing to grading.
"""
import json
import os
import stat

__all__ = ['read_answers', 'load_teacher', 'SubmissionError', 'MAX_BYTES']

MAX_BYTES = 20 << 20


class SubmissionError(Exception):
    """A submission that cannot be graded, and why."""


def _read_bytes(path):
    try:
        st = os.lstat(path)
    except OSError as err:
        raise SubmissionError(f'cannot be read ({err.strerror})') from None
    if stat.S_ISLNK(st.st_mode):
        raise SubmissionError('is a symbolic link, not a notebook: submit the file itself')
    if not stat.S_ISREG(st.st_mode):
        raise SubmissionError('is not a regular file: submit the .ipynb file itself')
    if st.st_size > MAX_BYTES:
        raise SubmissionError(f'is {st.st_size:,} bytes, more than the {MAX_BYTES:,} a notebook may have: '
                              'clear its outputs (Edit > Clear Outputs of All Cells) and save')
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0))
    except OSError as err:
        raise SubmissionError(f'cannot be opened ({err.strerror})') from None
    with os.fdopen(fd, 'rb') as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SubmissionError(f'is more than {MAX_BYTES:,} bytes')
    return data


def _parse(data):
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as err:
        raise SubmissionError(f'is not UTF-8 text (byte {err.start}): save it again from JupyterLab') from None
    try:
        nb = json.loads(text)
    except RecursionError:
        raise SubmissionError('is nested too deeply to be a notebook') from None
    except ValueError as err:
        raise SubmissionError(f'is not valid JSON ({str(err)[:120]}): it was damaged; start from a '
                              'fresh copy of the exercises and paste your answers in') from None
    if not isinstance(nb, dict) or not isinstance(nb.get('cells'), list):
        raise SubmissionError('is JSON but not a notebook (no list of cells)')
    return nb


def _source(cell, i):
    src = cell.get('source', '')
    if isinstance(src, list) and all(isinstance(s, str) for s in src):
        return ''.join(src)
    if isinstance(src, str):
        return src
    raise SubmissionError(f'cell {i} has a source that is not text ({type(src).__name__}): '
                          'the file was edited by hand; start from a fresh copy')


def read_answers(path):
    """{cell id: source} of the code cells of a submitted notebook, or SubmissionError."""
    nb = _parse(_read_bytes(path))
    answers = {}
    for i, cell in enumerate(nb['cells']):
        if not isinstance(cell, dict):
            raise SubmissionError(f'cell {i} is not a cell')
        if cell.get('cell_type') != 'code':
            continue
        cid = cell.get('id')
        if isinstance(cid, str) and cid not in answers:
            answers[cid] = _source(cell, i)
    return answers


class _Cell(dict):
    """A cell as read_exercises expects it (attribute access, source as one string)."""
    __getattr__ = dict.get


class _Notebook:
    def __init__(self, cells, metadata):
        self.cells, self.metadata = cells, metadata


def load_teacher(path):
    """The teacher's notebook (trusted, but read the same careful way), cells as _Cell."""
    nb = _parse(_read_bytes(path))
    cells = []
    for i, cell in enumerate(nb['cells']):
        c = _Cell(cell)
        c['source'] = _source(cell, i)
        c['metadata'] = _Cell(cell.get('metadata', {}))
        cells.append(c)
    return _Notebook(cells, nb.get('metadata', {}))
