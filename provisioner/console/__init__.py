"""The admin console: a registry's backup page and its JSON API (FastAPI on uvicorn).

Layout: ``checks`` (request values -> the validator's field errors), ``auth`` (who is asking),
``state`` (cached reads of git and the backup store), ``views`` (the JSON documents), ``save``
(one commit per save), ``web`` (headers, bodies, cross-site checks), ``app`` (the API),
``page`` (the server-rendered page), ``health`` (/healthz, /metrics), ``setup`` (inputs, serving).
Nothing here is imported by the other commands: fastapi and uvicorn load only for ``console``.
"""
