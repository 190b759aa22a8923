"""Exercises 6.x: the teacher's tests pass the model answers and fail each classic mistake with its hint.

The cells of solutions/06_tensors.ipynb run in-process (no kernel): setup, then the answer cell
with its solution block replaced, then the test cell (hidden tests included or not).
"""
import json
import re
from pathlib import Path

import pytest

NB = Path(__file__).resolve().parent.parent / 'solutions' / '06_tensors.ipynb'
CELLS = {c['id']: ''.join(c['source']) for c in json.loads(NB.read_text(encoding='utf-8'))['cells']
         if c['cell_type'] == 'code'}
SOLUTION = re.compile(r'[ \t]*### BEGIN SOLUTION.*?### END SOLUTION', re.S)
I = '    '


def run(ex, body=None, hidden=True):
    """None if the tests pass, else (misconception id or None, 'ExceptionType: message')."""
    ns = {}
    exec(CELLS['setup'], ns)
    answer = CELLS[ex] if body is None else SOLUTION.sub(lambda m: body.strip('\n'), CELLS[ex])
    exec(answer, ns)
    tests = CELLS[f'{ex}-tests']
    if not hidden:
        tests = tests.split('### BEGIN HIDDEN TESTS')[0]
    try:
        exec(tests, ns)
    except Exception as err:            # what the student would see, and the slip's stable id
        return getattr(err, 'misconception', None), f'{type(err).__name__}: {err}'
    return None


CHECK = ("if lead < 0 or any(s not in (1, g) for s, g in zip(shape, grad.shape[lead:])):\n"
         + I * 2 + "raise ValueError(f'{shape} vs {grad.shape}')\n")
AXES = ('lead = grad.ndim - len(shape)\n' + I
        + 'axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) '
          'if s == 1 and grad.shape[lead + i] != 1)\n' + I)
SOFTMAX = 'e = np.exp(z - z.max(axis=1, keepdims=True))\n' + I + 'p = e / e.sum(axis=1, keepdims=True)\n' + I

# (exercise, answer body, fails on the visible tests too?, the misconception id of the failure)
MISTAKES = [
    ('ex6-1', 'return G @ W.T', True, 'not-a-pair'),
    ('ex6-2', 'return grad.sum()', True, 'not-a-pair'),
    ('ex6-1', 'return G @ W.T, G.T @ X', True, 'transposed-product'),
    ('ex6-1', 'return X.T @ G, G @ W.T', True, 'swapped-pair'),
    ('ex6-1', 'dW = G.T @ X if X.shape[1] == G.shape[1] else X.T @ G\n' + I + 'return G @ W.T, dW',
     False, 'transposed-product'),                     # right shape only at square sizes: hidden tests
    ('ex6-1', 'return (G @ W if G.shape[1] == W.shape[0] else G @ W.T), X.T @ G', False, 'untransposed-factor'),
    ('ex6-1', 'Xt, Wt = Tensor(X, requires_grad=True), Tensor(W, requires_grad=True)\n' + I
     + '(Xt @ Wt).backward(grad=G)\n' + I + 'return Xt.grad, Wt.grad', True, 'engine-not-by-hand'),
    ('ex6-2', 'from autodiff_lite.tensor import unbroadcast\n' + I + AXES + 'return unbroadcast(grad, tuple(shape)), axes',
     True, 'no-shape-check'),
    ('ex6-2', AXES + CHECK + I + 'return grad.sum(axis=axes), axes', True, 'keepdims'),
    ('ex6-2', AXES + CHECK + I + 'return grad.mean(axis=axes).reshape(shape), axes', True, 'mean-not-sum'),
    ('ex6-2', AXES + CHECK + I + 'return grad.sum(axis=axes).reshape(shape), tuple(a - lead for a in axes if a >= lead)',
     True, 'axes-numbered-by-input'),
    ('ex6-2', 'lead = grad.ndim - len(shape)\n' + I + "if lead < 0: raise ValueError(f'{shape} vs {grad.shape}')\n" + I
     + 'axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)\n'
     + I + 'return grad.sum(axis=axes).reshape(shape), axes', True, 'no-shape-check'),
    ('ex6-3', "return {'X': G @ W.T, 'W': X.T @ G, 'b': G}", True, 'missing-unbroadcast'),
    ('ex6-3', "return {'X': G @ W.T, 'W': X.T @ G, 'b': G.mean(axis=0).reshape(np.shape(b))}", True, 'mean-not-sum'),
    ('ex6-3', "return {'X': G @ W.T, 'W': X.T @ G, 'b': G.sum(axis=1)}", True, 'wrong-axis'),
    ('ex6-3', "return {'X': G @ W.T, 'W': X.T @ G, 'b': (G.sum(axis=1) if G.shape[0] == G.shape[1] "
              "else G.sum(axis=0)).reshape(np.shape(b))}", False, 'wrong-axis'),
    ('ex6-3', "return {'X': G @ W.T, 'W': X.T @ G, 'b': G.sum(axis=0)}", True, 'keepdims'),
    ('ex6-4', SOFTMAX + 'return p - q', True, 'missing-batch-mean'),
    ('ex6-4', 'e = np.exp(z)\n' + I + 'return (e / e.sum(axis=1, keepdims=True) - q) / len(z)', True, 'softmax-overflow'),
    ('ex6-4', 'e = np.exp(z - z.max(axis=0, keepdims=True))\n' + I
     + 'return (e / e.sum(axis=0, keepdims=True) - q) / len(z)', True, 'softmax-wrong-axis'),
    ('ex6-4', SOFTMAX + 'return (q - p) / len(z)', True, 'sign-flip'),
    ('ex6-4', SOFTMAX + 'return (p - np.eye(z.shape[1])[q.argmax(axis=1)]) / len(z)', True, 'hard-targets'),
    ('ex6-4', 'zt = Tensor(z, requires_grad=True)\n' + I + '(-(zt.log_softmax(axis=1) * q).sum() / len(z)).backward()\n'
     + I + 'return zt.grad', True, 'engine-not-by-hand'),
    ('ex6-5', 'grad = np.zeros((n_rows, np.shape(G)[-1]))\n' + I + 'grad[np.asarray(idx)] = G\n' + I + 'return grad',
     True, 'assign-not-accumulate'),
    ('ex6-5', 'grad = np.zeros((n_rows, np.shape(G)[-1]))\n' + I + 'grad[np.asarray(idx)] += G\n' + I + 'return grad',
     True, 'assign-not-accumulate'),
    ('ex6-5', 'grad = np.zeros((n_rows, np.shape(G)[-1]))\n' + I + 'for i, g in zip(idx, G):\n' + I * 2
     + 'grad[i] += g\n' + I + 'return grad', True, 'index-shapes'),
]


@pytest.mark.parametrize('ex', ['ex6-1', 'ex6-2', 'ex6-3', 'ex6-4', 'ex6-5'])
def test_the_model_answer_passes(ex):
    assert run(ex) is None


@pytest.mark.filterwarnings('ignore::RuntimeWarning')     # the naive softmax overflows, on purpose
@pytest.mark.parametrize('ex, body, visible, slip', MISTAKES,
                         ids=[f'{m[0]}:{m[3]}' for m in MISTAKES])
def test_a_mistake_fails_with_its_misconception(ex, body, visible, slip):
    hidden = run(ex, I + body)
    assert hidden is not None and hidden[0] == slip, hidden
    shown = run(ex, I + body, hidden=False)
    if visible:
        assert shown is not None and shown[0] == slip, shown
    else:                               # only the hidden tests (new shapes) catch it
        assert shown is None, shown
