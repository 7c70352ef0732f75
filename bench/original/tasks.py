"""The original's Celery side: Redis as broker and result backend, and its `add_one_year`.

Worker, as the original runs it: celery -A tasks:celery worker --pool prefork --concurrency 2
"""
import os

from celery import Celery
from celery.signals import worker_process_init

from app import Person, app, db

celery = Celery(
    "tasks",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/10"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/11"),
)
celery.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)


@worker_process_init.connect
def fresh_connections(**_):
    # A forked pool process must not reuse its parent's database sockets.
    with app.app_context():
        db.engine.dispose(close=False)


@celery.task(name="persons.add_one_year")
def add_one_year(person_id):
    """Adds one to the person's age under a row lock; the new age, or None if absent."""
    with app.app_context():
        person = db.session.get(Person, person_id, with_for_update=True)
        if person is None:
            db.session.rollback()
            return None
        person.age += 1
        db.session.commit()
        return person.age
