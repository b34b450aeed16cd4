"""Subjects: the systems under test (one module each), plus `noop` for unit tests.

eval/ never imports from here except eval/spec/registry.py, which names each class once.
"""
