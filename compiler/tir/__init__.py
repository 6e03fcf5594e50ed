"""Loop IR: immutable nodes, a deterministic printer, traversal helpers, and passes."""

from compiler.tir.nodes import *  # noqa: F403
from compiler.tir.printer import print_expr, print_func, print_stmt  # noqa: F401
