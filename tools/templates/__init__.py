"""Notebook templates: each module returns a list of (kind, source) cells, kind in
{"markdown", "code", "parameters"}; tools/make_notebooks.py renders them with nbformat."""
