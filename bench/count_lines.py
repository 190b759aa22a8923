"""Code lines of the scalar engine a student reads: python bench/count_lines.py [FILE ...]

Issue 13: `Value` end to end (its ops, the graph walk, `backward`) in at most
300 lines of code. A line counts when it holds code; blank lines, comments,
docstrings and the text of error messages do not (string literals inside a
`raise`, passed to an `errors.` helper, or a row's `domain=`, which the messages
quote), so explaining the code never costs a line. A line that holds code and
prose counts; closing brackets and commas alone are not code. tests/test_engine_size.py holds the limit.
"""
import ast
import io
import os
import sys
import tokenize

ENGINE_FILES = ('autodiff_lite/value.py', 'autodiff_lite/ops.py', 'autodiff_lite/graph.py')
LIMIT = 300
# beside the path, not counted: floating-point care in forwards (no calculus), and
# the no_grad switches (the engine reads one flag, GradMode.enabled); a test keeps them so
BESIDE_FILES = ('autodiff_lite/numerics.py', 'autodiff_lite/modes.py')
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
         tokenize.DEDENT, tokenize.ENDMARKER}
_CLOSERS = {')', ']', '}', ','}


def _prose_spans(tree):
    """(start, end) positions of the prose: docstrings, and error texts (string literals
    in a `raise`, passed to an `errors.` helper, or a row's `domain=`, which the error
    messages quote)."""
    spans = []
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            spans.append(body[0])
        texts = []
        if isinstance(node, ast.Raise):
            texts = [node]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and func.value.id == 'errors':
                texts = node.args + [k.value for k in node.keywords]
            texts += [k.value for k in node.keywords if k.arg == 'domain']
        for text in texts:
            spans += [n for n in ast.walk(text) if isinstance(n, ast.JoinedStr)
                      or (isinstance(n, ast.Constant) and isinstance(n.value, str))]
    return [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in spans]


def code_lines(source):
    """The numbers of the lines that hold code."""
    spans = _prose_spans(ast.parse(source))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in _SKIP or tok.string in _CLOSERS:   # (a line of only `)` holds no code)
            continue
        if any(start <= tok.start and tok.end <= end for start, end in spans):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines


def count(path):
    with open(path, encoding='utf-8') as f:
        return len(code_lines(f.read()))


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = argv or [os.path.join(root, p) for p in ENGINE_FILES]
    total = 0
    for path in paths:
        n = count(path)
        total += n
        print(f'{n:5d}  {os.path.relpath(path, root)}')
    print(f'{total:5d}  in all (limit {LIMIT})')
    if not argv:
        beside = ', '.join(f'{os.path.basename(p)} {count(os.path.join(root, p))}' for p in BESIDE_FILES)
        print(f'       beside the path, not counted: {beside}')
    return total


if __name__ == '__main__':
    main(sys.argv[1:])
