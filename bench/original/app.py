"""The original starter's persons API, reduced to what the benchmarks call.

Flask with Flask-SQLAlchemy on PostgreSQL, views -> controller -> model as in the original:
  GET  /v1/persons?page=N&per_page=M  {"objects", "next", "prev"}: a count and a page query
  GET  /v1/persons/<id>               one query
  POST /v1/persons                    201 + Location (insert, commit, refresh)
  GET  /mon/ping                      pong

Served as the original deploys it: gunicorn -w 2 -k sync -b 127.0.0.1:5000 app:app
"""
import os
from datetime import datetime, timezone

from flask import Blueprint, Flask, abort, jsonify, request, url_for
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class Person(db.Model):
    __tablename__ = "persons"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(255), nullable=False)
    age = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(
        db.DateTime(timezone=True), nullable=False, default=lambda: datetime.now(timezone.utc)
    )

    def to_dict(self):
        return {
            "id": self.id,
            "name": self.name,
            "age": self.age,
            "created_at": self.created_at.isoformat(),
        }


class PersonController:
    """The logic, shared by API versions; knows nothing of HTTP."""

    @staticmethod
    def page(page, per_page):
        query = db.select(Person).order_by(Person.id)
        return db.paginate(query, page=page, per_page=per_page, max_per_page=100, error_out=False)

    @staticmethod
    def get(person_id):
        return db.session.get(Person, person_id)

    @staticmethod
    def create(name, age):
        person = Person(name=name, age=age)
        db.session.add(person)
        db.session.commit()
        return person


def list_with_pagination(endpoint, controller):
    """The original's list shape: objects of one page and the URLs of its neighbours."""
    page = controller.page(request.args.get("page", 1, type=int),
                           request.args.get("per_page", 20, type=int))

    def link(number):
        return url_for(endpoint, page=number, per_page=page.per_page, _external=True)

    return {
        "objects": [item.to_dict() for item in page.items],
        "next": link(page.next_num) if page.has_next else None,
        "prev": link(page.prev_num) if page.has_prev else None,
    }


v1 = Blueprint("v1", __name__)
mon = Blueprint("mon", __name__)


@v1.get("/persons")
def get_persons():
    return jsonify(list_with_pagination(".get_persons", PersonController))


@v1.get("/persons/<int:person_id>")
def get_person(person_id):
    person = PersonController.get(person_id)
    if person is None:
        abort(404)
    return jsonify(person.to_dict())


@v1.post("/persons")
def post_person():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify({"error": "a JSON object is expected"}), 400
    name, age = data.get("name"), data.get("age", 0)
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        return jsonify({"error": "name: 1 to 255 characters"}), 422
    if isinstance(age, bool) or not isinstance(age, int) or age < 0:
        return jsonify({"error": "age: a non-negative integer"}), 422
    person = PersonController.create(name, age)
    response = jsonify(person.to_dict())
    response.status_code = 201
    response.headers["Location"] = url_for(".get_person", person_id=person.id, _external=True)
    return response


@v1.errorhandler(404)
def not_found(_error):
    return jsonify({"error": "not found"}), 404


@mon.get("/ping")
def ping():
    return "pong", 200, {"Content-Type": "text/plain"}


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
        "DATABASE_URL", "postgresql+psycopg2://bench:bench@127.0.0.1:5432/bench_original"
    )
    app.config["SQLALCHEMY_TRACK_MODIFICATIONS"] = False
    db.init_app(app)
    app.register_blueprint(v1, url_prefix="/v1")
    app.register_blueprint(mon, url_prefix="/mon")
    return app


app = create_app()
