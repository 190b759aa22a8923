"""The plain-data encoding of probe arguments and results (JSON, with tags).

    None, bool, int, float, str     as JSON (int and float kept apart)
    NaN, inf, -inf                  {"$float": "nan" | "inf" | "-inf"}
    tuple, set, frozenset           {"$tuple": [...]}, {"$set": [...]}, {"$frozenset": [...]}
    list                            [...]
    dict (any keys)                 {"$dict": [[key, value], ...]}
    (a result's dict, list or tuple subclass: as the plain container of what it holds)
    numpy array                     {"$array": {"dtype": "float64", "shape": [2, 3], "data": [...]}}
    numpy scalar                    {"$np": "float32", "v": ...}
    Value / Tensor node             {"$node": i}: position i in the payload's node table
    Dual                            {"$dual": [primal, tangent]}
    anything else (a result)        {"$obj": "TypeName", "repr": "..."} (read-only, for messages)

A node table lists a graph's nodes in topological order, each as
{"kind", "label", "op", "data", "grad", "rg", "prev"} with its inputs as
{"$node": j} (j < i; a shared leaf is one position) or constants. A result's
table continues the arguments' table: a result that names an argument's node
gets the caller's own object back. Nothing here executes or imports anything
named by the data: decoding builds only the types above and read-only views.
"""
import builtins
import json
import math

import numpy as np

__all__ = ['pack_args', 'unpack_args', 'pack_result', 'pack_error', 'unpack_result', 'dumps', 'loads',
           'NodeView', 'DualView', 'Opaque', 'StudentError', 'WireError', 'MAX_BYTES', 'MAX_DEPTH']

MAX_BYTES = 16 << 20          # one probe's payload; a 10,001-node chain is about 1 MB
MAX_DEPTH = 64                # nesting of containers
MAX_NODES = 250_000


class WireError(ValueError):
    """Data that cannot cross (an argument that is not plain data, a malformed payload)."""


class NodeView:
    """A node of a graph that came back from a probe: read-only data, as the engine names it."""
    __slots__ = ('kind', 'data', 'grad', 'label', 'requires_grad', '_op', '_prev')

    def __repr__(self):
        name = f', label={self.label!r}' if self.label else ''
        data = f'{self.data:.6g}' if isinstance(self.data, float) else repr(self.data)
        return f'{self.kind}(data={data}{name})'


class DualView:
    """A Dual that came back from a probe: its primal and tangent."""
    __slots__ = ('primal', 'tangent')

    def __init__(self, primal, tangent):
        self.primal, self.tangent = primal, tangent

    def __repr__(self):
        return f'Dual({self.primal!r}, {self.tangent!r})'


class Opaque:
    """An object of the student's that is not plain data: its type name and repr, nothing else."""
    __slots__ = ('type_name', 'text')

    def __init__(self, type_name, text):
        self.type_name, self.text = type_name, text

    def __repr__(self):
        return self.text


class StudentError(Exception):
    """An exception raised by the student's code whose type is not a built-in one."""


def _node_types():
    from ..graph import Node
    return Node


# --- encoding ---------------------------------------------------------------------------
class _Encoder:
    def __init__(self, strict, known=()):
        self.strict = strict          # arguments: only plain data; results: anything (as Opaque)
        self.nodes = []
        self.index = {id(n): i for i, n in enumerate(known)}
        self.keep = list(known)       # ids stay valid while we hold the objects
        self.base = len(known)

    def node(self, root):
        if id(root) in self.index:
            return {'$node': self.index[id(root)]}
        Node = _node_types()
        # iterative post-order walk: inputs get their positions first
        stack, expanded = [root], set()
        while stack:
            n = stack[-1]
            if id(n) in self.index:
                stack.pop()
                continue
            if id(n) not in expanded:
                expanded.add(id(n))
                prev = tuple(getattr(n, '_prev', ()) or ())
                stack.extend(p for p in prev if isinstance(p, (Node, NodeView)) and id(p) not in self.index)
                continue
            stack.pop()
            if len(self.nodes) + self.base >= MAX_NODES:
                raise WireError(f'a graph of more than {MAX_NODES} nodes')
            self.index[id(n)] = self.base + len(self.nodes)
            self.keep.append(n)
            kind = 'Tensor' if type(n).__name__ == 'Tensor' else getattr(n, 'kind', 'Value')
            self.nodes.append(None)          # reserve: grad may itself be a graph
            pos = len(self.nodes) - 1
            desc = {'kind': kind, 'label': str(getattr(n, 'label', '') or ''),
                    'op': str(getattr(n, '_op', '') or ''), 'rg': bool(getattr(n, 'requires_grad', True)),
                    'prev': [self.enc(p, 1) for p in (getattr(n, '_prev', ()) or ())]}
            desc['data'] = self.enc(getattr(n, 'data', None), 1)
            desc['grad'] = self.enc(getattr(n, 'grad', None), 1)
            self.nodes[pos] = desc
        return {'$node': self.index[id(root)]}

    def enc(self, x, depth=0):
        if depth > MAX_DEPTH:
            raise WireError(f'data nested more than {MAX_DEPTH} levels deep')
        t = type(x)
        if x is None or t is bool or t is str or t is int:
            return x
        if t is float:
            return x if math.isfinite(x) else {'$float': repr(x)}
        if t is list:
            return [self.enc(v, depth + 1) for v in x]
        if t is tuple:
            return {'$tuple': [self.enc(v, depth + 1) for v in x]}
        if t is dict:
            return {'$dict': [[self.enc(k, depth + 1), self.enc(v, depth + 1)] for k, v in x.items()]}
        if t in (set, frozenset):
            return {'$' + t.__name__: [self.enc(v, depth + 1) for v in x]}
        if t is np.ndarray:
            if x.dtype.kind not in 'biuf':
                if self.strict:
                    raise WireError(f'an array of dtype {x.dtype}')
                return self.opaque(x)
            return {'$array': {'dtype': x.dtype.name, 'shape': list(x.shape),
                               'data': [self.enc(v, depth + 1) for v in x.ravel().tolist()]}}
        if isinstance(x, np.generic) and x.dtype.kind in 'biuf':
            return {'$np': x.dtype.name, 'v': self.enc(x.item(), depth + 1)}
        if isinstance(x, (_node_types(), NodeView)):
            return self.node(x)
        if t.__name__ == 'Dual' and t.__module__.startswith('autodiff_lite') or t is DualView:
            return {'$dual': [self.enc(x.primal, depth + 1), self.enc(x.tangent, depth + 1)]}
        if self.strict:
            raise WireError(f'{type(x).__name__} is not plain data')
        # a result that is a dict, list or tuple of a subclass (defaultdict, OrderedDict, a
        # namedtuple) crosses as the plain container of what it holds, read with the base
        # type's own methods: an override of items() or __iter__ is never called
        if isinstance(x, dict):
            return self.enc(dict(dict.items(x)), depth)
        if isinstance(x, list):
            return self.enc(list(list.__iter__(x)), depth)
        if isinstance(x, tuple):
            return self.enc(tuple(tuple.__iter__(x)), depth)
        return self.opaque(x)

    @staticmethod
    def opaque(x):
        try:
            text = repr(x)
        except Exception:
            text = f'<{type(x).__name__} object>'
        return {'$obj': str(type(x).__name__)[:100], 'repr': str(text)[:300]}


def dumps(payload):
    """One payload as JSON text; WireError past MAX_BYTES."""
    text = json.dumps(payload, ensure_ascii=True, separators=(',', ':'), allow_nan=False)
    if len(text) > MAX_BYTES:
        raise WireError(f'a probe result of {len(text):,} bytes (the limit is {MAX_BYTES:,})')
    return text


def loads(text):
    """The payload in JSON text, or WireError (too large, not JSON, too deep)."""
    if len(text) > MAX_BYTES:
        raise WireError(f'a probe result of {len(text):,} bytes (the limit is {MAX_BYTES:,})')
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise WireError(f'not a payload: {type(err).__name__}') from None


def pack_args(args, kwargs):
    """(payload, the argument nodes in table order). Only plain data may cross."""
    enc = _Encoder(strict=True)
    payload = {'args': enc.enc(list(args)), 'kwargs': enc.enc(dict(kwargs))}
    payload['nodes'] = enc.nodes
    return payload, enc.keep


def pack_result(value, known):
    """The result of a probe as a payload; `known` are the argument nodes it may name."""
    enc = _Encoder(strict=False, known=known)
    out = {'value': enc.enc(value)}
    out['nodes'], out['base'] = enc.nodes, enc.base
    return out


def pack_error(err):
    """An exception raised by the student's code, as a payload: its type (and the nearest
    built-in base) and its message."""
    builtin = next((c.__name__ for c in type(err).__mro__
                    if getattr(builtins, c.__name__, None) is c and issubclass(c, BaseException)),
                   'Exception')
    try:
        message = str(err)
    except Exception:
        message = '<unprintable message>'
    return {'raised': {'type': str(type(err).__name__)[:100], 'builtin': builtin, 'message': message[:2000]}}


# --- decoding ----------------------------------------------------------------------------
class _Decoder:
    def __init__(self, table, known, rebuild):
        self.table, self.known, self.rebuild = table, list(known), rebuild
        self.base = len(self.known)
        self.built = {}

    def node(self, i):
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise WireError('a bad node reference')
        if i < self.base:
            return self.known[i]
        if i not in self.built:
            # nodes refer only to earlier positions, so building in order never recurses deeply
            for j in range(self.base + len(self.built), i + 1):
                if j - self.base >= len(self.table):
                    raise WireError('a node reference past the table')
                self.built[j] = self.make(self.table[j - self.base], j)
        return self.built[i]

    def make(self, desc, pos):
        if not isinstance(desc, dict) or not isinstance(desc.get('prev', []), list):
            raise WireError('a bad node description')
        prev = []
        for p in desc.get('prev', []):
            if isinstance(p, dict) and '$node' in p:
                if not isinstance(p['$node'], int) or p['$node'] >= pos:
                    raise WireError('a node whose input comes after it')
                prev.append(self.node(p['$node']))
            else:
                prev.append(self.dec(p, 1))
        fields = dict(kind=str(desc.get('kind', 'Value')), label=str(desc.get('label', '')),
                      op=str(desc.get('op', '')), rg=bool(desc.get('rg', True)),
                      data=self.dec(desc.get('data'), 1), grad=self.dec(desc.get('grad'), 1),
                      prev=tuple(prev))
        return self.rebuild(fields) if self.rebuild else _view(fields)

    def dec(self, x, depth=0):
        if depth > MAX_DEPTH + 2:
            raise WireError('data nested too deep')
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, list):
            return [self.dec(v, depth + 1) for v in x]
        if not isinstance(x, dict) or len(x) not in (1, 2):
            raise WireError('a bad value')
        if '$float' in x:
            if x['$float'] not in ('nan', 'inf', '-inf'):
                raise WireError('a bad float')
            return float(x['$float'])
        if '$tuple' in x:
            return tuple(self.dec(v, depth + 1) for v in self._list(x['$tuple']))
        if '$set' in x or '$frozenset' in x:
            items = [self.dec(v, depth + 1) for v in self._list(x.get('$set', x.get('$frozenset')))]
            try:
                return set(items) if '$set' in x else frozenset(items)
            except TypeError:
                raise WireError('an unhashable set member') from None
        if '$dict' in x:
            out = {}
            for pair in self._list(x['$dict']):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError('a bad dict entry')
                key = self.dec(pair[0], depth + 1)
                try:
                    out[key] = self.dec(pair[1], depth + 1)
                except TypeError:
                    raise WireError('an unhashable dict key') from None
            return out
        if '$array' in x:
            return self.array(x['$array'])
        if '$np' in x:
            try:
                return np.dtype(_dtype(x['$np'])).type(self.dec(x.get('v'), depth + 1))
            except (TypeError, ValueError, OverflowError):
                raise WireError('a bad numpy scalar') from None
        if '$node' in x:
            return self.node(x['$node'])
        if '$dual' in x:
            pair = self._list(x['$dual'])
            if len(pair) != 2:
                raise WireError('a bad dual')
            primal, tangent = (self.dec(v, depth + 1) for v in pair)
            if self.rebuild:
                from ..dual import Dual
                return Dual(primal, tangent)
            return DualView(primal, tangent)
        if '$obj' in x:
            return Opaque(one_line(x['$obj'], 100), one_line(x.get('repr', ''), 300))
        raise WireError('a bad value')

    @staticmethod
    def _list(x):
        if not isinstance(x, list):
            raise WireError('a bad container')
        return x

    def array(self, a):
        if not isinstance(a, dict):
            raise WireError('a bad array')
        shape = a.get('shape')
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise WireError('a bad array shape')
        data = [self.dec(v, 2) for v in self._list(a.get('data'))]
        if math.prod(shape) != len(data):
            raise WireError('an array whose data does not fit its shape')
        try:
            return np.array(data, dtype=_dtype(a.get('dtype'))).reshape(shape)
        except (TypeError, ValueError, OverflowError):
            raise WireError('a bad array') from None


def one_line(text, limit):
    """Text from the student's process, made safe to print in a table: one line, bounded."""
    text = str(text)[:limit]
    return ''.join(c if c.isprintable() else '\u23ce' if c in '\r\n' else '?' for c in text)


def _dtype(name):
    if not isinstance(name, str) or np.dtype(name).kind not in 'biuf':
        raise WireError('a dtype that is not a number type')
    return name


def _view(f):
    v = NodeView()
    v.kind, v.label, v._op, v.requires_grad = f['kind'], f['label'], f['op'], f['rg']
    v.data, v.grad, v._prev = f['data'], f['grad'], f['prev']
    return v


def _rebuild(f):
    """An argument node as a real engine node (the student's code gets engine objects)."""
    if f['kind'] == 'Tensor':
        from ..tensor import Tensor
        if f['prev']:
            raise WireError('a Tensor argument must be a leaf: build tensor graphs inside the probe')
        t = Tensor(f['data'], requires_grad=f['rg'], label=f['label'])
        if f['grad'] is not None:
            t.grad = f['grad']
        return t
    from ..value import Value
    v = Value.__new__(Value)
    v.data = float(f['data']) if isinstance(f['data'], (int, float)) else f['data']
    v.grad = f['grad'] if f['grad'] is not None else 0.0
    v.label, v._op, v.requires_grad = f['label'], f['op'], f['rg']
    v._prev = f['prev']
    return v


def unpack_args(payload):
    """(args, kwargs, argument nodes as engine objects): the sandbox's side of pack_args."""
    if not isinstance(payload, dict) or not isinstance(payload.get('nodes', []), list):
        raise WireError('a bad argument payload')
    dec = _Decoder(payload.get('nodes', []), (), _rebuild)
    args, kwargs = dec.dec(payload.get('args', [])), dec.dec(payload.get('kwargs', {'$dict': []}))
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise WireError('a bad argument payload')
    copies = [dec.node(i) for i in range(len(payload.get('nodes', [])))]
    return args, kwargs, copies


def unpack_result(payload, originals):
    """The value a probe returned (a result naming an argument's node gets the caller's node),
    or the student's exception raised again, as its built-in type."""
    if not isinstance(payload, dict):
        raise WireError('a bad result payload')
    if 'raised' in payload:
        raise rebuild_error(payload['raised'])
    if payload.get('base', len(originals)) != len(originals) or not isinstance(payload.get('nodes', []), list):
        raise WireError('a result that does not match its arguments')
    dec = _Decoder(payload.get('nodes', []), originals, None)
    return dec.dec(payload.get('value'))


def rebuild_error(raised):
    """The student's exception as an instance of its nearest built-in type (never re-imported)."""
    if not isinstance(raised, dict):
        raise WireError('a bad error payload')
    name, message = one_line(raised.get('type', 'Exception'), 100), one_line(raised.get('message', ''), 2000)
    base = getattr(builtins, str(raised.get('builtin', '')), None)
    if not (isinstance(base, type) and issubclass(base, Exception)) or base in (StopIteration,):
        base = StudentError
    if base is KeyError:
        err = KeyError(message)
        err.args = (message,)
    else:
        err = base(message)
    err.student_type = name
    return err
