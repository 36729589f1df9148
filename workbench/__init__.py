"""endpoint workbench: Azure ML managed online endpoints on your own machine.

Importing this package imports nothing heavy: each command loads what it needs.
"""

__version__ = "0.1.0"
