"""erlang._compile_block: how py:eval splits a block into statements and the
expression whose value it returns."""
import pytest


def run(plain, source):
    statements, expression = plain._compile_block(source)
    ns = {}
    if statements is not None:
        exec(statements, ns)
    return None if expression is None else eval(expression, ns)


def test_a_block_returns_its_last_expression(plain):
    assert run(plain, "import os\nos.sep") == "/"
    assert run(plain, "x = 2\ny = 3\nx * y") == 6


def test_a_block_that_ends_with_a_statement_returns_none(plain):
    statements, expression = plain._compile_block("x = 1\ny = x + 1")
    assert statements is not None and expression is None
    assert run(plain, "def f():\n    return 1") is None


def test_a_lone_expression_has_no_statements(plain):
    statements, expression = plain._compile_block("1 + 1")
    assert statements is None
    assert eval(expression) == 2


def test_syntax_errors_are_the_block_s(plain):
    with pytest.raises(SyntaxError):
        plain._compile_block("x = = 1")
