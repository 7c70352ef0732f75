"""Creates the original's tables (the rows are seeded by the shell scripts, as for every stack)."""
from app import app, db

with app.app_context():
    db.create_all()
