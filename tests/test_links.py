"""Every relative link in the lessons, the exercise notebooks, the README and docs/ leads to a file.

A link into work/ (the student's own copy, made by `make lab` from exercises/) counts
as resolved when exercises/ has the notebook it is copied from.
"""
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Documents written on other branches, linked from here before they are merged. Once one
# exists it must leave this set (the test below fails until it does), so no entry outlives
# its merge and hides a dead link.
PENDING = set()

FENCE = re.compile(r'```.*?```', re.S)
CODE_SPAN = re.compile(r'`[^`\n]*`')
MD_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
HTML_LINK = re.compile(r'''(?:href|src)\s*=\s*["']([^"']+)["']''')


def documents():
    docs = sorted(ROOT.glob('notebooks/*.ipynb')) + sorted(ROOT.glob('exercises/*.ipynb')) \
        + sorted(ROOT.glob('solutions/*.ipynb')) + [ROOT / 'README.md'] + sorted(ROOT.glob('docs/*.md'))
    return [d for d in docs if d.exists()]


def markdown_of(path):
    if path.suffix == '.md':
        return path.read_text(encoding='utf-8')
    nb = json.loads(path.read_text(encoding='utf-8'))
    return '\n\n'.join(''.join(c['source']) if isinstance(c['source'], list) else c['source']
                       for c in nb['cells'] if c['cell_type'] == 'markdown')


def relative_links(text):
    text = CODE_SPAN.sub('', FENCE.sub('', text))
    for target in MD_LINK.findall(text) + HTML_LINK.findall(text):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I) or target.startswith('#'):
            continue                                   # http:, mailto:, data:, an anchor in the page
        yield target


def resolves(doc, target):
    rel = unquote(target.split('#', 1)[0].split('?', 1)[0])
    path = (doc.parent / rel).resolve()
    if not path.is_relative_to(ROOT):
        return False, f'{target} leaves the repository'
    repo_rel = path.relative_to(ROOT).as_posix()
    if repo_rel.startswith('work/'):                   # the student's copy of exercises/
        source = ROOT / 'exercises' / repo_rel[len('work/'):]
        return source.is_file(), f'{target}: no exercises/{source.name} to copy it from'
    if repo_rel in PENDING and not path.exists():
        return True, ''
    return path.exists(), f'{target}: no such file ({repo_rel})'


@pytest.mark.parametrize('doc', documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc):
    dead = []
    for target in relative_links(markdown_of(doc)):
        ok, why = resolves(doc, target)
        if not ok:
            dead.append(why)
    assert not dead, f'{doc.relative_to(ROOT)} has dead links: ' + '; '.join(dead)


def test_pending_documents_leave_the_list_once_merged():
    arrived = sorted(p for p in PENDING if (ROOT / p).exists())
    assert not arrived, f'now in the repository, remove from PENDING in {Path(__file__).name}: {arrived}'


def test_every_lesson_links_to_its_exercises_and_back():
    for lesson in sorted(ROOT.glob('notebooks/[0-9][0-9]_*.ipynb')):
        if not (ROOT / 'exercises' / lesson.name).exists():
            continue                                   # a lesson whose exercises are not written yet
        links = set(relative_links(markdown_of(lesson)))
        assert f'../work/{lesson.name}' in links, f'{lesson.name}: no "Your turn" link to ../work/{lesson.name}'
        back = set(relative_links(markdown_of(ROOT / 'exercises' / lesson.name)))
        assert f'../notebooks/{lesson.name}' in back, f'exercises/{lesson.name}: no link back to its lesson'


def test_the_checker_sees_a_dead_link(tmp_path):
    text = 'see [a](../notebooks/nope.ipynb), `[b](not/a/link)`, [c](https://x.org) and <img src="pic.png">'
    assert list(relative_links(text)) == ['../notebooks/nope.ipynb', 'pic.png']
    assert not resolves(ROOT / 'notebooks' / 'x.ipynb', '../notebooks/nope.ipynb')[0]
    assert resolves(ROOT / 'notebooks' / 'x.ipynb', '../work/01_chain_rule.ipynb')[0]
    assert not resolves(ROOT / 'notebooks' / 'x.ipynb', '../work/99_none.ipynb')[0]
