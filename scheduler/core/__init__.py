"""The pure scheduling core: plain data in, decisions out; no I/O, no frameworks.

The simulator, the live service and the tests all drive this same package.
"""
