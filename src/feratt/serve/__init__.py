"""`feratt serve`: an HTTP API and a web page over a ``Recognizer`` (FastAPI + uvicorn).

``create_app(recognizer)`` builds the application; ``feratt.serve.server`` runs it.
"""

from feratt.serve.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
