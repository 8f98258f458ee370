"""Extensions, created unbound here and bound in the app factory."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from challenge.db import Database

db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
# Storage, limits and the 429 page are set up in challenge.ratelimits.init_app.
limiter = Limiter(key_func=get_remote_address)
