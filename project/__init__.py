"""The composition root: settings, URLs, the Celery app and the database router.

It wires the modules together by name (INSTALLED_APPS, URL includes, Celery
autodiscovery) and never imports a module's private code.
"""

from project.celery import app as celery_app

__all__ = ["celery_app"]
