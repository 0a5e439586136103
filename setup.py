"""Only here to hand the native build to setuptools: everything else is in pyproject.toml.

`pip install .` compiles native/*.c through cffi (native/build.py:ffibuilder). For working in
the source tree, `make setup` builds the same module in place.
"""

from setuptools import setup

setup(cffi_modules=["native/build.py:ffibuilder"])
