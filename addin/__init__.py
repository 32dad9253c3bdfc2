"""xlwings add-in adapter over the engine (buttons on the official workbooks). Built in its own issue."""
