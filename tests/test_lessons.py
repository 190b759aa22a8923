"""What a lesson must not do: give away an answer before the student predicts it."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted(ROOT.glob('notebooks/[0-9][0-9]_*.ipynb'))


def cells(path):
    nb = json.loads(path.read_text(encoding='utf-8'))
    for c in nb['cells']:
        source = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        yield c, source


def output_text(cell):
    parts = []
    for out in cell.get('outputs', []):
        text = out.get('text', out.get('data', {}).get('text/plain', ''))
        parts.append(''.join(text) if isinstance(text, list) else text)
    return '\n'.join(parts)


@pytest.mark.parametrize('lesson', LESSONS, ids=lambda p: p.name)
def test_predict_cells_hold_no_guess_and_no_saved_answer(lesson):
    for cell, source in cells(lesson):
        if cell['cell_type'] != 'code' or not source.startswith('prediction = {'):
            continue
        first = source.splitlines()[0]
        assert re.fullmatch(r"prediction = \{('\w+': None,? ?)+\}\s*(#.*)?", first), \
            f'{cell.get("id")}: a predict cell starts with None for every prediction, not {first!r}'
        shown = output_text(cell)
        assert 'engine' not in shown and not re.search(r'[-+]?\d', shown.replace('d/d', '')), \
            f'{cell.get("id")}: the saved output of a predict cell shows a number: {shown!r}'


@pytest.mark.parametrize('lesson', LESSONS, ids=lambda p: p.name)
def test_reveals_are_collapsed(lesson):
    after_reveal = False
    for cell, source in cells(lesson):
        if cell['cell_type'] == 'markdown':
            assert source.count('<details>') == source.count('</details>'), f'{cell.get("id")}: unbalanced <details>'
            if '<details>' in source:
                assert '<summary>' in source, f'{cell.get("id")}: a <details> block needs a <summary>'
            after_reveal = '<details>' in source and 'collapsed' in source
            continue
        if after_reveal:            # every code cell up to the next markdown one
            assert cell['metadata'].get('jupyter', {}).get('outputs_hidden'), \
                f'{cell.get("id")}: a reveal says the output below is collapsed, but it is not'
