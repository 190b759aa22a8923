"""Lesson 07's widgets (Taylor explorer, Newton against gradient descent), driven from plain
pytest: set a slider, read the widget state that changed. Expected values are derived by hand."""
import math
import re

import numpy as np
import pytest

from autodiff_lite import widgets as W

PNG = b'\x89PNG'


def rosen(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


# --- repeated derivatives and Taylor polynomials -------------------------------------------------
def test_derivatives_at_tanh_match_the_closed_forms():
    t = math.tanh(0.5)
    s = 1 - t * t                                        # tanh' = 1 - tanh²
    d = W._derivatives_at(lambda x: x.tanh(), 0.5, 3)
    assert d == pytest.approx([t, s, -2 * t * s, -2 * s * s + 4 * t * t * s], rel=1e-12)


def test_derivatives_at_sin_cycle_and_polynomial_runs_out():
    d = W._derivatives_at(lambda x: x.sin(), 0.3, 8)
    cycle = [math.sin(0.3), math.cos(0.3), -math.sin(0.3), -math.cos(0.3)]
    assert d == pytest.approx(cycle * 2 + cycle[:1], rel=1e-12)
    # x³ - 2x at 2: 4, 3x² - 2 = 10, 6x = 12, 6, then zeros (the graph becomes a constant)
    assert W._derivatives_at(lambda x: x * x * x - 2 * x, 2.0, 6) == pytest.approx([4, 10, 12, 6, 0, 0, 0])


def test_taylor_explorer_coefficients_and_slider():
    box = W.taylor_explorer(lambda x: x.exp(), 0.0, max_degree=6, x_range=(-2, 2), name='exp')
    assert box.coefficients == pytest.approx([1 / math.factorial(k) for k in range(7)], rel=1e-12)
    assert box.slider.value == 1 and box.slider.max == 6
    assert 'T<sub>1</sub>(x)</b> = 1 + 1·x<br>' in box.readout.value
    before = box.plot.value
    assert bytes(before).startswith(PNG)
    box.slider.value = 4                                 # fires the callback, no kernel needed
    assert box.plot.value != before
    # the error readout: largest |e^x - T_4(x)| near 0 (|x| <= 1) is at x = 1
    err = math.e - sum(1 / math.factorial(k) for k in range(5))
    near = float(re.search(r'of x0: ([0-9.e-]+)', box.readout.value).group(1))
    assert near == pytest.approx(err, rel=1e-2)
    assert box.polynomial(np.array([0.5]), 2) == pytest.approx([1 + 0.5 + 0.125])


def test_taylor_explorer_around_a_shifted_point():
    box = W.taylor_explorer(lambda x: x.sin(), 1.0, max_degree=3, x_range=(-2, 4))
    s, c = math.sin(1.0), math.cos(1.0)
    assert box.coefficients == pytest.approx([s, c, -s / 2, -c / 6], rel=1e-12)
    assert '(x − 1)<sup>3</sup>' in (setattr(box.slider, 'value', 3) or box.readout.value)


@pytest.mark.parametrize('kwargs, error, message', [
    ({'max_degree': 13}, ValueError, 'from 0 to 12'),
    ({'max_degree': 2.0}, ValueError, 'whole number'),
    ({'x_range': (1, -1)}, ValueError, 'increasing'),
    ({'x0': 5.0}, ValueError, 'contain x0'),
    ({'x_range': (0,)}, ValueError, r'\(left, right\)'),
])
def test_taylor_explorer_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        W.taylor_explorer(lambda x: x.sin(), **kwargs)


def test_taylor_explorer_needs_a_function_of_values():
    with pytest.raises(TypeError, match='function of one Value'):
        W.taylor_explorer(3.0)
    with pytest.raises(TypeError, match='must return a Value'):
        W.taylor_explorer(lambda x: 2.0)


# --- Newton against gradient descent -----------------------------------------------------------
def test_gd_and_newton_paths_on_a_quadratic():
    # f = (x - 1)² + 10 (y + 2)²: Newton lands on (1, -2) in one step; GD at lr 0.05
    # shrinks the x error by 1 - 2·0.05 = 0.9 and the y error by 1 - 20·0.05 = 0 per step
    f = lambda x, y: (x - 1) ** 2 + 10 * (y + 2) ** 2
    newton, note = W.newton_path(f, (3.0, 1.0), 3)
    assert note == '' and newton[1] == pytest.approx([1.0, -2.0], abs=1e-12)
    gd, _ = W.gd_path(f, (3.0, 1.0), 0.05, 2)
    assert gd == pytest.approx(np.array([[3, 1], [1 + 2 * 0.9, -2], [1 + 2 * 0.81, -2]]))
    half, _ = W.newton_path(f, (3.0, 1.0), 1, damping=0.5)   # a damped step goes half way
    assert half[1] == pytest.approx([2.0, -0.5])


def test_gd_path_reports_divergence():
    path, note = W.gd_path(lambda x: x * x, [1.0], 1.5, 5000)   # x ← x - 3x = -2x: doubles
    assert 'diverged' in note and len(path) < 5000 and np.all(np.isfinite(path))
    assert path[:4, 0] == pytest.approx([1, -2, 4, -8])


def test_newton_explorer_1d_quadratic_convergence():
    # f = e^x - 2x, minimum at ln 2; Newton: x ← x - (e^x - 2)/e^x
    box = W.newton_explorer(lambda x: x.exp() - 2 * x, 2.0, math.log(2), lr=0.3, steps=12, max_steps=50)
    x = 2.0
    for k in range(1, 5):
        x = x - (math.exp(x) - 2) / math.exp(x)
        assert box.paths['newton'][k, 0] == pytest.approx(x, rel=1e-12)
    e = box.errors['newton']
    assert e[3] < 1e-2 and e[4] < 1e-4 and e[5] < 1e-8     # digits roughly double each step
    assert e[5] / e[4] ** 2 == pytest.approx(0.5, rel=0.05)   # e_{k+1} ≈ (f'''/2f'') e_k² = e_k²/2
    # gradient descent: x ← x - 0.3 (e^x - 2), linear near ln 2 with rate 1 - 0.3·2 = 0.4
    g = box.errors['gd']
    assert g[12] / g[11] == pytest.approx(0.4, rel=0.01)
    assert bytes(box.plot.value).startswith(PNG)
    assert '12 iterations' in box.readout.value


def test_newton_explorer_sliders_recompute_and_redraw():
    box = W.newton_explorer(rosen, (-1.2, 1.0), (1.0, 1.0), lr=1e-3, steps=20, max_steps=200)
    e = box.errors['newton']
    assert e[0] == pytest.approx(2.2) and e[7] < 1e-12            # Newton: done in about 7 steps
    assert box.errors['gd'][200] > 1.0                              # GD: still far after 200
    picture, text = box.plot.value, box.readout.value
    box.steps.value = 5                                             # only redraws
    assert box.plot.value != picture and '5 iterations' in box.readout.value
    assert box.errors['newton'] is e
    box.damping.value = 0.5                                         # recomputes Newton's path
    assert box.errors['newton'] is not e
    x1 = np.array([-1.2, 1.0]) - 0.5 * np.linalg.solve(
        [[2 - 400 * (1.0 - 3 * 1.44), 480.0], [480.0, 200.0]], [-4.4 + 400 * 1.2 * (1.0 - 1.44), 200 * (1.0 - 1.44)])
    assert box.paths['newton'][1] == pytest.approx(x1, rel=1e-10)
    box.lr.value = 0.01                                             # too large: GD blows up
    assert 'diverged' in box.notes['gd'] and text != box.readout.value


@pytest.mark.parametrize('kwargs, message', [
    ({'x0': (1.0, 2.0, 3.0), 'minimum': (0, 0, 0)}, '1 or 2 numbers'),
    ({'minimum': (1.0,)}, 'same size'),
    ({'steps': 0}, 'whole number'),
    ({'steps': 30, 'max_steps': 20}, 'more than max_steps'),
    ({'lr': -1.0}, 'lr must be positive'),
    ({'damping': 3.0}, 'damping in'),
])
def test_newton_explorer_bad_input(kwargs, message):
    args = {'x0': (-1.2, 1.0), 'minimum': (1.0, 1.0), **kwargs}
    with pytest.raises(ValueError, match=message):
        W.newton_explorer(rosen, **args)


# --- against PyTorch, when installed --------------------------------------------------------
def test_newton_path_matches_torch_on_rosenbrock():
    torch = pytest.importorskip('torch')
    from torch.autograd.functional import hessian, jacobian

    def rosen_t(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    p = torch.tensor([-1.2, 1.0], dtype=torch.float64)
    ours, _ = W.newton_path(rosen, (-1.2, 1.0), 4)
    for k in range(1, 5):
        p = p - torch.linalg.solve(hessian(rosen_t, p), jacobian(rosen_t, p))
        assert ours[k] == pytest.approx(p.numpy(), rel=1e-10, abs=1e-12)


def test_taylor_coefficients_match_torch_higher_derivatives():
    torch = pytest.importorskip('torch')
    x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    d, expected = torch.tanh(x), []
    for k in range(6):
        expected.append(d.item() / math.factorial(k))
        (d,) = torch.autograd.grad(d, x, create_graph=True)
    box = W.taylor_explorer(lambda v: v.tanh(), 0.3, max_degree=5, x_range=(-1, 1))
    assert box.coefficients == pytest.approx(expected, rel=1e-12)
