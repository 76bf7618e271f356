"""The Ray engine: the driver side, the worker side, how workers reach the store, address checks.

The only package that imports ``ray`` (``pip install 'kagura[ray]'``).
"""
