"""A member library's own system (an ILS) speaking SIP2, built on pysip2's server.

It stands for someone else's system, so it imports nothing of ours (import-linter):
- `library.py`: items, patrons, guest patrons; loaded from TOML/JSON (`data/dongcheng.toml`).
- `circulation.py`: checkout / checkin with routing / renew rules, and the state file.
- `wire.py`: the checkin response with CT and CV, which pysip2 does not model.
- `journal.py`: every handled request, in order, countable; optionally a JSONL file.
- `server.py`: pysip2's server with our handlers; `IlsSimulator` runs it in-process.
- `__main__.py`: `python -m ils_sim --port N --data FILE --encoding gb18030 ...`.
"""
