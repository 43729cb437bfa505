"""WSGI entry point: `flask --app app ...` and `gunicorn app:app` both use this."""
from coordinator import create_app

app = create_app()
