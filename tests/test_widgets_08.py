"""Lesson 08's widget, driven from plain pytest: set the slider, read what it measured and drew."""
import re

import pytest

from autodiff_lite import widgets as W

PNG = b'\x89PNG'


def test_checkpoint_explorer_measures_each_k_once_and_redraws():
    box = W.checkpoint_explorer(n=40, k=1, sweep=(1, 40), repeats=1)
    assert sorted(box.results) == [1, 40]
    assert box.plain['peak_nodes'] == 81                 # the leaf and 2 nodes per step
    assert 'peak nodes: 83</b> (plain 81)' in box.readout.value   # k = 1: one segment, rebuilt whole
    first = bytes(box.plot.value)
    assert first.startswith(PNG)
    box.slider.value = 4                                 # fires the callback, no kernel needed
    assert sorted(box.results) == [1, 4, 40]
    r = box.results[4]
    assert (r['nodes_kept'], r['largest_segment'], r['peak_nodes']) == (5, 21, 26)
    assert '<b>k = 4</b> segments of 10 steps' in box.readout.value
    assert 'nodes kept after forward: 5 (plain 81)' in box.readout.value
    assert bytes(box.plot.value) != first and bytes(box.plot.value).startswith(PNG)
    diff = float(re.search(r'relative difference from plain ([0-9.e+-]+)', box.readout.value).group(1))
    assert diff < 1e-12
    assert abs(r['grad'] - box.plain['grad']) <= 1e-12 * abs(box.plain['grad'])
    box.slider.value = 7                                 # uneven: 40 = 5 x 6 + 2 x 5 steps
    assert '<b>k = 7</b> segments of 6 or 5 steps' in box.readout.value
    assert box.results[7]['peak_nodes'] == 1 + 7 + 1 + 2 * 6


def test_checkpoint_explorer_sliding_back_reuses_the_measurement():
    box = W.checkpoint_explorer(n=20, k=5, sweep=(), repeats=1)
    measured = box.results[5]
    box.slider.value = 2
    box.slider.value = 5
    assert box.results[5] is measured and sorted(box.results) == [2, 5]


@pytest.mark.parametrize('kwargs, match', [
    (dict(n=10, k=11), 'k <= n'),
    (dict(n=10, sweep=(1, 20)), 'k <= n'),
    (dict(n=0), 'whole number'),
    (dict(n=10, repeats=0), 'repeats'),
])
def test_checkpoint_explorer_names_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        W.checkpoint_explorer(**kwargs)


def test_checkpoint_explorer_draws_the_model_only_after_the_slider_moves(monkeypatch):
    """The counted model's curve marks the best k, which the lesson asks the student to
    predict first: the widget as it opens (and as a saved notebook shows it) has no curve."""
    from autodiff_lite import memory
    calls = []
    real = memory.peak_model
    monkeypatch.setattr(memory, 'peak_model', lambda n, k: calls.append(k) or real(n, k))
    box = W.checkpoint_explorer(n=40, k=1, sweep=(1, 40), repeats=1)
    assert calls == []
    box.slider.value = 4
    assert 1 in calls and 40 in calls and 4 in calls       # the whole curve, through the measured k
