"""xlwings Server expects this package; shinsei defines no worksheet functions (the buttons are scripts)."""
