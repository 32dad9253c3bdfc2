"""shinsei engine: workbook -> normalised submission -> rule-pack findings -> reports.

Pure Python, no Excel needed. The add-in and the CLI are thin layers over this package.
"""

__version__ = "0.1.0"
