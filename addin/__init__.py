"""The xlwings add-in: validation buttons on the official workbooks, a thin adapter over the engine.

    book_input.py       the book Excel sends -> the engine's input (RawWorkbook)
    scripts.py          the buttons (xlwings custom scripts): 検証, 提出前チェック, 表示クリア, JSON出力
    write_back.py       the engine's report -> fills, the 検証結果 sheet, the alert; and Clear
    server.py           xlwings Server configured for shinsei (``shinsei addin serve``)
    limits.py           bad requests refused before any work: body size, JSON, nesting, types, cells
    offload.py          the scripts' engine work in worker processes, off the event loop, with a time limit
    officejs_payload.py the payload Excel would send, built from a file (tests, benchmark)
    server_project/     what xlwings Server loads: custom_scripts, task pane, ribbon manifest, static

xlwings checks its licence key when it is imported, so the key is set here, first. xlwings
Server and the remote interpreter are free for non-commercial use (PolyForm Noncommercial,
key ``noncommercial``): universities and public research bodies such as JST qualify.
"""

import os

os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
