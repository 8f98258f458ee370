"""Extensions, created unbound here and bound in the app factory."""

from flask_login import LoginManager
from flask_wtf import CSRFProtect

from challenge.db import Database

db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
