"""Finance review: the worklist of flagged cost lines, reviewers' decisions, totals after them, audit log.

lines      which lines of a submission a reviewer sees, with keys that survive a resubmission
ledger     the append-only log of decisions, statuses and audit samples in the database
totals     what an application is worth after the decisions
worklist   the worklist sheets of review.xlsx
sheet_import  decisions typed into review.xlsx, checked and stored
sampling   audit samples (a share, everything with errors, everything above an amount)
letters    the list of comments for an application whose changes are requested
web        the review pages (FastAPI, server-rendered)
"""
