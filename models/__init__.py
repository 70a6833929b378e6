"""The state-machine model of refexec's executors, defined once and interpreted several ways.

See ``spec/SPEC.md``. This package may import z3; ``import refexec`` never imports it.
"""
